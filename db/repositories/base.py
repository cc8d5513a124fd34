"""Repository base: the only place that turns models into MongoDB documents and back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from bson import ObjectId
from pymongo import ReplaceOne, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from pymongo.results import UpdateResult

from db.group_commit import grouped_inserts, grouped_lookup, grouped_updates
from models.base import Document, is_object_id

T = TypeVar("T", bound=Document)
Mongo = dict[str, Any]
# How often an upsert that raced another on a unique index is retried (the loser then reads the winner).
UPSERT_ATTEMPTS = 3
# A month of one doctor's appointments fits in one batch, so availability is one database command.
BUSY_BATCH_SIZE = 10_000


def oid(value: str) -> ObjectId | None:
    """ObjectId from a string id, or None when the string is not one (such ids match nothing)."""
    return ObjectId(value) if is_object_id(value) else None


def required(doc: Mapping[str, Any] | None) -> dict[str, Any]:
    """A document that must exist (e.g. just upserted)."""
    if doc is None:
        raise LookupError("document vanished during the write")
    return dict(doc)


async def upsert_and_read(
    collection: AsyncCollection[Mongo], query: Mapping[str, Any], update: Mapping[str, Any] | list[Mongo]
) -> Mongo:
    """Upsert one document and return it as written.

    Two upserts racing on a unique index: the loser gets DuplicateKeyError and tries again (then it matches the
    winner's document). A server may answer a racing upsert with no document at all: it is read back.
    """
    for attempt in range(1, UPSERT_ATTEMPTS + 1):
        try:
            doc = await collection.find_one_and_update(
                dict(query), update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            if attempt == UPSERT_ATTEMPTS:
                raise
            continue
        if doc is None:
            doc = await collection.find_one(dict(query))
        if doc is not None:
            return doc
    raise LookupError("upserted document vanished")


class Repository(Generic[T]):
    """CRUD for one collection holding one document model."""

    collection_name: ClassVar[str]
    model: type[T]

    def __init__(self, db: AsyncDatabase[Mongo]):
        self.db = db
        self.collection: AsyncCollection[Mongo] = db[self.collection_name]
        # Single-document writes from concurrent runs share bulk commands (db/group_commit.py).
        self._inserts = grouped_inserts(self.collection)
        self._updates = grouped_updates(self.collection)
        self._gets = grouped_lookup(self._find_by_ids)

    def _load(self, raw: Mapping[str, Any] | None) -> T | None:
        return None if raw is None else self.model.from_mongo(dict(raw))

    async def insert(self, item: T) -> T:
        """Insert one document (DuplicateKeyError propagates)."""
        await self._inserts.submit(item.to_mongo())
        return item

    async def _update_one(self, query: Mapping[str, Any], update: Mapping[str, Any]) -> UpdateResult:
        """update_one (no upsert), sent together with concurrent ones."""
        return await self._updates.submit((dict(query), dict(update)))

    async def get(self, item_id: str) -> T | None:
        """Find by id (concurrent gets share one find); a malformed id finds nothing."""
        key = oid(item_id)
        if key is None:
            return None
        return self._load(await self._gets.submit(key))

    async def _find_by_ids(self, keys: list[ObjectId]) -> list[Mongo | None]:
        found = {doc["_id"]: doc async for doc in self.collection.find({"_id": {"$in": list(dict.fromkeys(keys))}})}
        return [found.get(key) for key in keys]

    async def upsert_many(self, items: Iterable[T]) -> int:
        """Replace-or-insert by id (idempotent bulk load); returns the number written."""
        ops = [ReplaceOne({"_id": ObjectId(i.id)}, i.to_mongo(), upsert=True) for i in items]
        if not ops:
            return 0
        result = await self.collection.bulk_write(ops, ordered=False)
        return result.upserted_count + result.modified_count

    async def count(self, query: Mapping[str, Any] | None = None) -> int:
        """Count documents matching a filter."""
        return await self.collection.count_documents(dict(query or {}))

    async def delete(self, item_id: str) -> bool:
        """Delete by id; True when something was deleted."""
        key = oid(item_id)
        if key is None:
            return False
        return (await self.collection.delete_one({"_id": key})).deleted_count == 1
