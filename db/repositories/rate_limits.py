"""The rate_limits repository."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db.repositories.base import upsert_and_read


class RateLimitRepository:
    """rate_limits: fixed-window counters."""

    collection_name = "rate_limits"

    def __init__(self, db: Any):
        self.collection = db[self.collection_name]

    async def hit(self, key: str, *, window_start: datetime, expires_at: datetime) -> int:
        """Count one hit in the window; returns the count including this one."""
        doc = await upsert_and_read(
            self.collection,
            {"key": key, "window_start": window_start},
            {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}},
        )
        return int(doc["count"])
