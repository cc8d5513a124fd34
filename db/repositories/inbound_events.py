"""The inbound_events repository."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from db.repositories.base import Repository, oid
from models.base import new_id
from models.campaign import Lease
from models.enums import InboundSource, InboundStatus, OutboundStatus
from models.messaging import InboundEvent


class InboundEventRepository(Repository[InboundEvent]):
    """inbound_events."""

    collection_name = "inbound_events"
    model = InboundEvent

    async def record(self, event: InboundEvent) -> bool:
        """Record an event under its unique (source, external id); False when it was already there."""
        try:
            await self.insert(event)
        except DuplicateKeyError:
            return False
        return True

    async def finished_ids(self, source: InboundSource, external_ids: list[str]) -> set[str]:
        """Which of these external ids are already done or skipped (one query for a whole history window)."""
        if not external_ids:
            return set()
        cursor = self.collection.find(
            {"source": source.value, "external_id": {"$in": external_ids}}, {"external_id": 1, "status": 1}
        )
        return {doc["external_id"] async for doc in cursor if doc["status"] != InboundStatus.PENDING.value}

    async def find_one(self, source: InboundSource, external_id: str) -> InboundEvent | None:
        """An event by its external id."""
        return self._load(await self.collection.find_one({"source": source.value, "external_id": external_id}))

    async def mark_done(self, event_id: str, *, now: datetime) -> None:
        """Close an event that needs no lease (e.g. a push whose sync finished)."""
        await self._update_one(
            {"_id": oid(event_id)}, {"$set": {"status": InboundStatus.DONE.value, "updated_at": now}}
        )

    async def claim(
        self, *, source: InboundSource, external_id: str, owner: str, now: datetime, ttl: timedelta
    ) -> InboundEvent | None:
        """Lease a pending event for processing (a fresh one, or one whose last worker vanished)."""
        # update_one + a read by key, not findAndModify: some servers (SecantusDB) answer that with a scan.
        key = {"source": source.value, "external_id": external_id}
        token = new_id()
        result = await self._update_one(
            {**key, "status": InboundStatus.PENDING.value, "lease_until": {"$lte": now}},
            {
                "$set": {
                    "lease": Lease(owner=owner, until=now + ttl, claim=token).model_dump(),
                    "lease_until": now + ttl,
                    "updated_at": now,
                },
                "$inc": {"attempts": 1},
            },
        )
        if result.modified_count != 1:
            return None
        return self._load(await self.collection.find_one({**key, "lease.claim": token}))

    async def finish(
        self,
        event_id: str,
        *,
        owner: str,
        status: InboundStatus,
        now: datetime,
        reason: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Close an event we hold."""
        fields: dict[str, Any] = {
            "status": status.value,
            "lease": None,
            "lease_until": now,
            "reason": reason,
            "updated_at": now,
        }
        if payload is not None:
            fields["payload"] = payload
        result = await self._update_one({"_id": oid(event_id), "lease.owner": owner}, {"$set": fields})
        return result.modified_count == 1

    async def release(self, event_id: str, *, owner: str, error: str, now: datetime) -> None:
        """Give a failed event back for a later retry."""
        await self._update_one(
            {"_id": oid(event_id), "lease.owner": owner},
            {"$set": {"lease": None, "lease_until": now, "error": error[:300], "updated_at": now}},
        )

    async def pending_ids(self, *, source: InboundSource, older_than: datetime, limit: int) -> list[str]:
        """External ids of pending events untouched since a time (for the sweeper)."""
        cursor = (
            self.collection.find(
                {
                    "source": source.value,
                    "status": InboundStatus.PENDING.value,
                    "updated_at": {"$lte": older_than},
                    "lease_until": {"$lte": older_than},
                },
                {"external_id": 1},
            )
            .sort("updated_at", 1)
            .limit(limit)
        )
        return [doc["external_id"] async for doc in cursor]

    async def claim_reply(self, event_id: str, *, owner: str, now: datetime, ttl: timedelta) -> bool:
        """The right to send the one auto-reply to this message."""
        result = await self._update_one(
            {"_id": oid(event_id), "reply_status": {"$in": [None, OutboundStatus.FAILED.value]}},
            {
                "$set": {
                    "reply_status": OutboundStatus.CLAIMED.value,
                    "reply_lease": {"owner": owner, "until": now + ttl},
                }
            },
        )
        if result.modified_count == 1:
            return True
        # A sender that vanished mid-send leaves the outcome unknown: never send again.
        await self._update_one(
            {"_id": oid(event_id), "reply_status": OutboundStatus.CLAIMED.value, "reply_lease.until": {"$lte": now}},
            {"$set": {"reply_status": OutboundStatus.UNKNOWN.value}},
        )
        return False

    async def finish_reply(
        self, event_id: str, *, owner: str, status: OutboundStatus, message_id: str | None = None
    ) -> None:
        """Record the outcome of our reply send."""
        await self._update_one(
            {"_id": oid(event_id), "reply_lease.owner": owner},
            {"$set": {"reply_status": status.value, "reply_message_id": message_id}},
        )
