"""The reply_slots repository."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError

from db.repositories.base import Repository
from models.base import new_id
from models.messaging import ReplySlot


class ReplySlotRepository(Repository[ReplySlot]):
    """reply_slots: the unique key makes taking one of the limited auto-replies a single atomic write."""

    collection_name = "reply_slots"
    model = ReplySlot

    async def claim(self, key: str, *, event_id: str, now: datetime, ttl: timedelta) -> bool:
        """Take the slot (free, expired or already this message's) until now + ttl; False when another holds it."""
        until = now + ttl
        try:
            # The common case is one plain insert (sent with concurrent ones); the unique key refuses a taken slot.
            await self.insert(ReplySlot(id=new_id(), key=key, event_id=event_id, until=until))
            return True
        except DuplicateKeyError:
            pass
        # Taken: still ours (a retried run), or free again once expired (the TTL monitor deletes it only later).
        # Each is one conditional update on the key index, so two messages cannot both take an expired slot.
        for held in ({"key": key, "event_id": event_id}, {"key": key, "until": {"$lte": now}}):
            result = await self._update_one(held, {"$set": {"event_id": event_id, "until": until}})
            if result.matched_count == 1:
                return True
        return False

    async def release(self, key: str, *, event_id: str) -> None:
        """Give back a slot this message took."""
        await self.collection.delete_one({"key": key, "event_id": event_id})
