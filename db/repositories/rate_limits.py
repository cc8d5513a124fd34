"""The rate_limits repository."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError


class RateLimitRepository:
    """rate_limits: fixed-window counters."""

    collection_name = "rate_limits"

    def __init__(self, db: Any):
        self.collection = db[self.collection_name]

    async def hit(self, key: str, *, window_start: datetime, expires_at: datetime) -> int:
        """Count one hit in the window; returns the count including this one."""
        for attempt in range(2):
            try:
                doc = await self.collection.find_one_and_update(
                    {"key": key, "window_start": window_start},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                ) or await self.collection.find_one({"key": key, "window_start": window_start})
                return int(doc["count"])
            except DuplicateKeyError:
                if attempt:
                    raise
        raise AssertionError("unreachable")
