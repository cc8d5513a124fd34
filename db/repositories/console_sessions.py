"""The console_sessions repository."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from db.group_commit import grouped_lookup
from db.repositories.base import Mongo, Repository, oid
from models.system import ConsoleSession


class ConsoleSessionRepository(Repository[ConsoleSession]):
    """console_sessions: staff console sessions by the hash of their cookie value (the TTL index drops old ones)."""

    collection_name = "console_sessions"
    model = ConsoleSession

    def __init__(self, db: AsyncDatabase[Mongo]):
        super().__init__(db)
        # Every console page looks its session up: concurrent lookups share one find, as user lookups do.
        self._by_hash = grouped_lookup(self._find_by_hashes)

    async def _find_by_hashes(self, hashes: list[str]) -> list[Mongo | None]:
        query = {"token_hash": {"$in": list(set(hashes))}}
        found = {doc["token_hash"]: doc async for doc in self.collection.find(query)}
        return [found.get(h) for h in hashes]

    async def live(self, token_hash: str, *, now: datetime) -> ConsoleSession | None:
        """The session with this hash unless it has expired (the TTL monitor deletes expired ones only later)."""
        session = self._load(await self._by_hash.submit(token_hash))
        return session if session is not None and session.expires_at > now else None

    async def touch(self, session_id: str, *, now: datetime, expires_at: datetime, every: timedelta) -> bool:
        """Slide the expiry, at most once per `every` (one conditional update); True when it was written."""
        result = await self._update_one(
            {"_id": oid(session_id), "last_seen_at": {"$lte": now - every}, "expires_at": {"$gt": now}},
            {"$set": {"last_seen_at": now, "expires_at": expires_at}},
        )
        return result.modified_count == 1

    async def delete_by_hash(self, token_hash: str) -> bool:
        """End a session; True when one was deleted."""
        return (await self.collection.delete_one({"token_hash": token_hash})).deleted_count == 1

    async def delete_for_user(self, user_id: str) -> int:
        """End every session of one user; how many were ended."""
        return (await self.collection.delete_many({"user_id": oid(user_id)})).deleted_count
