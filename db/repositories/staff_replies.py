"""The staff_replies repository: one claimed answer per handoff, so a double submit sends one email."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError

from db.repositories.base import Repository, oid
from models.base import new_id
from models.campaign import Lease
from models.enums import OutboundStatus
from models.messaging import StaffReply


class StaffReplyRepository(Repository[StaffReply]):
    """staff_replies: the unique key is the claim; a claim that definitely failed may be taken again."""

    collection_name = "staff_replies"
    model = StaffReply

    async def find_by_key(self, key: str) -> StaffReply | None:
        """The answer claimed under this key, if any."""
        return self._load(await self.collection.find_one({"key": key}))

    async def claim(
        self, key: str, *, campaign_id: str, actor: str, owner: str, now: datetime, ttl: timedelta
    ) -> tuple[bool, StaffReply | None]:
        """(True, row) when this caller may send the answer; (False, the existing row) when it is taken."""
        lease = Lease(owner=owner, until=now + ttl)
        row = StaffReply(
            id=new_id(), key=key, campaign_id=campaign_id, actor=actor, lease=lease, created_at=now, updated_at=now
        )
        try:
            await self.insert(row)
            return True, row
        except DuplicateKeyError:
            pass
        retaken = await self._update_one(
            {"key": key, "status": OutboundStatus.FAILED.value},
            {
                "$set": {
                    "status": OutboundStatus.CLAIMED.value,
                    "actor": actor,
                    "lease": lease.model_dump(),
                    "error": None,
                    "updated_at": now,
                }
            },
        )
        found = self._load(await self.collection.find_one({"key": key}))
        if retaken.modified_count == 1 and found is not None:
            return True, found
        return False, found

    async def finish(
        self,
        row_id: str,
        *,
        owner: str,
        status: OutboundStatus,
        now: datetime,
        provider_message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record the outcome of our own send."""
        await self._update_one(
            {"_id": oid(row_id), "lease.owner": owner},
            {
                "$set": {
                    "status": status.value,
                    "provider_message_id": provider_message_id,
                    "error": error,
                    "lease": None,
                    "updated_at": now,
                }
            },
        )
