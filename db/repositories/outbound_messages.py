"""The outbound_messages repository."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from db.repositories.base import Repository, oid
from models.base import new_id
from models.campaign import Lease
from models.enums import Channel, OutboundStatus
from models.messaging import OutboundMessage


class OutboundMessageRepository(Repository[OutboundMessage]):
    """outbound_messages: one row per (campaign, attempt, channel), so each step is sent at most once."""

    collection_name = "outbound_messages"
    model = OutboundMessage

    async def claim(
        self, *, campaign_id: str, attempt: int, channel: Channel, owner: str, now: datetime, ttl: timedelta
    ) -> tuple[bool, OutboundMessage]:
        """(True, row) when this caller may send; (False, existing row) when the step is taken.

        A row that definitely failed before reaching the provider may be claimed again.
        """
        row = OutboundMessage(
            id=new_id(),
            campaign_id=campaign_id,
            attempt=attempt,
            channel=channel,
            lease=Lease(owner=owner, until=now + ttl),
            created_at=now,
            updated_at=now,
        )
        try:
            await self.insert(row)
            return True, row
        except DuplicateKeyError:
            pass
        key = {"campaign_id": oid(campaign_id), "attempt": attempt, "channel": channel.value}
        retaken = await self.collection.find_one_and_update(
            {**key, "status": OutboundStatus.FAILED.value},
            {
                "$set": {
                    "status": OutboundStatus.CLAIMED.value,
                    "lease": Lease(owner=owner, until=now + ttl).model_dump(),
                    "updated_at": now,
                    "error": None,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if retaken is not None:
            return True, OutboundMessage.from_mongo(retaken)
        existing = await self.collection.find_one(key)
        if existing is None:  # deleted between our two reads: treat as taken; the next run will see it
            return False, row
        return False, OutboundMessage.from_mongo(existing)

    async def finish(
        self,
        row_id: str,
        *,
        owner: str,
        status: OutboundStatus,
        now: datetime,
        provider_message_id: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the result of our own send (a `sent` result always wins: it is what happened)."""
        query: dict[str, Any] = {"_id": oid(row_id), "lease.owner": owner}
        if status != OutboundStatus.SENT:
            query["status"] = OutboundStatus.CLAIMED.value
        result = await self._update_one(
            query,
            {
                "$set": {
                    "status": status.value,
                    "provider_message_id": provider_message_id,
                    "error": error,
                    "updated_at": now,
                }
            },
        )
        return result.modified_count == 1

    async def mark_unknown_if_stale(self, row_id: str, *, now: datetime) -> bool:
        """A claim whose sender vanished mid-send: the outcome is unknown and it is never sent again."""
        result = await self._update_one(
            {"_id": oid(row_id), "status": OutboundStatus.CLAIMED.value, "lease.until": {"$lte": now}},
            {"$set": {"status": OutboundStatus.UNKNOWN.value, "updated_at": now}},
        )
        return result.modified_count == 1

    async def count_by_status(self) -> dict[str, int]:
        """Rows per status."""
        cursor = await self.collection.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        return {doc["_id"]: doc["n"] async for doc in cursor}
