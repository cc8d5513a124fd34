"""The gmail_state repository."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from db.repositories.base import Repository, upsert_and_read
from models.messaging import GmailState


class GmailStateRepository(Repository[GmailState]):
    """gmail_state: the history cursor only ever moves forward."""

    collection_name = "gmail_state"
    model = GmailState

    async def get_by_address(self, email_address: str) -> GmailState | None:
        """The state of a mailbox."""
        return self._load(await self.collection.find_one({"email_address": email_address.lower()}))

    async def _upsert(self, email_address: str, update: dict[str, Any], now: datetime) -> GmailState:
        doc = await upsert_and_read(
            self.collection,
            {"email_address": email_address.lower()},
            {**update, "$set": {**update.get("$set", {}), "updated_at": now}, "$setOnInsert": {"_id": ObjectId()}},
        )
        return GmailState.from_mongo(doc)

    async def advance(self, email_address: str, history_id: int, *, now: datetime) -> GmailState:
        """Move the cursor to `history_id` unless it is already further."""
        return await self._upsert(email_address, {"$max": {"history_id": history_id}}, now)

    async def set_watch(
        self, email_address: str, *, history_id: int, expiration: datetime, now: datetime
    ) -> GmailState:
        """Record a (re)started watch; the cursor starts there if there was none."""
        return await self._upsert(
            email_address, {"$set": {"watch_expiration": expiration}, "$max": {"history_id": history_id}}, now
        )

    async def touch_push(self, email_address: str, *, now: datetime) -> None:
        """Remember when the last push arrived (the poll fallback looks at it)."""
        await self._upsert(email_address, {"$set": {"last_push_at": now}}, now)
