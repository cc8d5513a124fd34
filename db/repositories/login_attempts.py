"""The login_attempts repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from db.repositories.base import upsert_and_read

# Stands in for "no lock" when comparing lock ends in an update pipeline.
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)


class LoginAttemptRepository:
    """login_attempts: password checks per account key (known or not, so lockout reveals nothing)."""

    collection_name = "login_attempts"

    def __init__(self, db: Any):
        self.collection = db[self.collection_name]

    async def begin(self, key: str, *, now: datetime, window: timedelta, max_attempts: int, lockout: timedelta) -> bool:
        """Count one attempt before its password is checked (one atomic update); False when over the limit."""
        # The count restarts when the window is over (and no lock holds) or when a lock has run out.
        locked = {"$gt": [{"$ifNull": ["$locked_until", now]}, now]}
        lock_over = {"$lte": [{"$ifNull": ["$locked_until", _NEVER]}, now]}
        stale = {"$lte": [{"$ifNull": ["$window_start", now - window]}, now - window]}
        restart = {"$or": [lock_over, {"$and": [stale, {"$not": [locked]}]}]}
        update = [
            {
                "$set": {
                    "attempts": {"$cond": [restart, 1, {"$add": [{"$ifNull": ["$attempts", 0]}, 1]}]},
                    "window_start": {"$cond": [restart, now, "$window_start"]},
                    "locked_until": {"$cond": [restart, None, "$locked_until"]},
                    "expires_at": now + window + lockout,
                }
            }
        ]
        doc = await upsert_and_read(self.collection, {"key": key}, update)
        until = doc.get("locked_until")
        return int(doc["attempts"]) <= max_attempts and not (until and until > now)

    async def record_failure(self, key: str, *, now: datetime, max_attempts: int, lockout: timedelta) -> None:
        """After a failed check: lock the key once its window holds `max_attempts` attempts."""
        until = now + lockout
        await self.collection.update_one(
            {"key": key, "attempts": {"$gte": max_attempts}},
            {"$set": {"locked_until": until}, "$max": {"expires_at": until}},
        )

    async def reset(self, key: str) -> None:
        """Forget attempts after a successful login."""
        await self.collection.delete_one({"key": key})
