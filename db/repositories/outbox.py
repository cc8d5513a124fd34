"""The outbox repository: development messages, newest first."""

from __future__ import annotations

from db.repositories.base import Repository
from models.outbox import OutboxMessage


class OutboxRepository(Repository[OutboxMessage]):
    """outbox."""

    collection_name = "outbox"
    model = OutboxMessage

    async def add(self, message: OutboxMessage) -> None:
        """Keep one message."""
        await self.insert(message)

    async def page(self, *, skip: int, limit: int) -> tuple[list[OutboxMessage], int]:
        """Newest first, with the total."""
        cursor = self.collection.find({}, sort=[("created_at", -1), ("_id", -1)], skip=skip, limit=limit)
        items = [OutboxMessage.from_mongo(doc) async for doc in cursor]
        return items, await self.collection.count_documents({})
