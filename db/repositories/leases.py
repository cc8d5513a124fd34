"""The leases repository."""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from db.repositories.base import Repository
from models.system import NamedLease


class LeaseRepository(Repository[NamedLease]):
    """leases: named, expiring claims on shared work."""

    collection_name = "leases"
    model = NamedLease

    async def claim(self, name: str, *, owner: str, ttl: timedelta, now: datetime) -> bool:
        """Take or renew the lease when it is free, expired or already ours."""
        try:
            doc = await self.collection.find_one_and_update(
                {"name": name, "$or": [{"until": {"$lte": now}}, {"owner": owner}]},
                {"$set": {"owner": owner, "until": now + ttl}, "$setOnInsert": {"_id": ObjectId()}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # someone else holds it (the upsert collided with their document)
        return doc is not None and doc["owner"] == owner

    async def release(self, name: str, *, owner: str) -> None:
        """Give the lease up if we hold it."""
        await self.collection.delete_one({"name": name, "owner": owner})
