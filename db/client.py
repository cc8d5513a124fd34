"""AsyncMongoClient factory."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from core.config import Settings


def make_client(settings: Settings, **overrides: Any) -> AsyncMongoClient[dict[str, Any]]:
    """Create the one client of an event loop: tz-aware UTC datetimes, bounded timeouts."""
    options: dict[str, Any] = {
        "tz_aware": True,
        "serverSelectionTimeoutMS": settings.MONGO_TIMEOUT_MS,
        "connectTimeoutMS": settings.MONGO_TIMEOUT_MS,
        "appname": "medcampaign",
    }
    options.update(overrides)
    return AsyncMongoClient(settings.mongo_uri, **options)
