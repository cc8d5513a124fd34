"""The console_sessions repository."""

from __future__ import annotations

from datetime import datetime, timedelta

from db.repositories.base import Repository, oid
from models.system import ConsoleSession


class ConsoleSessionRepository(Repository[ConsoleSession]):
    """console_sessions: staff console sessions by the hash of their cookie value (the TTL index drops old ones)."""

    collection_name = "console_sessions"
    model = ConsoleSession

    async def live(self, token_hash: str, *, now: datetime) -> ConsoleSession | None:
        """The session with this hash unless it has expired (the TTL monitor deletes expired ones only later)."""
        return self._load(await self.collection.find_one({"token_hash": token_hash, "expires_at": {"$gt": now}}))

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
