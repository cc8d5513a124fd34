"""Group commit: concurrent writes share bulk commands, yet each caller gets exactly its own outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from db.group_commit import GroupCommit, grouped_inserts, grouped_updates
from db.monitoring import CommandCounter

WRITERS = 40


@pytest.fixture
async def counted(mongo_uri: str, db_name: str) -> Any:
    """A collection with a unique index, on a client whose commands are counted."""
    counter = CommandCounter()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, event_listeners=[counter])
    collection = client[db_name]["group_commit"]
    await collection.create_index("key", unique=True)
    counter.names.clear()
    yield collection, counter
    await client.drop_database(db_name)
    await client.close()


async def test_concurrent_inserts_share_commands_and_only_the_duplicate_fails(counted: Any) -> None:
    collection, counter = counted
    inserts = grouped_inserts(collection)
    await collection.insert_one({"_id": ObjectId(), "key": "taken"})
    counter.names.clear()
    keys = [f"k{n}" for n in range(WRITERS)] + ["taken"]
    outcomes = await asyncio.gather(
        *(inserts.submit({"_id": ObjectId(), "key": key}) for key in keys), return_exceptions=True
    )
    assert outcomes[:-1] == [None] * WRITERS
    assert isinstance(outcomes[-1], DuplicateKeyError)
    assert await collection.count_documents({}) == WRITERS + 1
    assert counter.names.count("insert") < len(keys) / 4  # batched, not one command per document


async def test_concurrent_updates_report_each_callers_own_result(counted: Any) -> None:
    collection, counter = counted
    ids = [ObjectId() for _ in range(WRITERS)]
    await collection.insert_many([{"_id": i, "key": str(i), "n": 0} for i in ids])
    updates = grouped_updates(collection)
    counter.names.clear()
    missing = ObjectId()
    guarded: list[tuple[dict[str, Any], dict[str, Any]]] = [({"_id": i, "n": 0}, {"$set": {"n": 1}}) for i in ids]
    results = await asyncio.gather(*(updates.submit(op) for op in [*guarded, ({"_id": missing}, {"$set": {"n": 1}})]))
    assert [r.matched_count for r in results] == [1] * WRITERS + [0]
    assert len(counter.names) < WRITERS / 4
    # The same guarded updates again: the guard no longer matches anyone.
    again = await asyncio.gather(*(updates.submit(op) for op in guarded))
    assert [r.modified_count for r in again] == [0] * WRITERS
    assert await collection.count_documents({"n": 1}) == WRITERS


async def test_a_lone_write_goes_at_once_and_a_failed_batch_fails_every_caller() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def run(ops: list[int]) -> list[int | Exception]:
        batches.append(ops)
        await gate.wait()
        if 13 in ops:
            raise ConnectionError("server gone")
        return [op * 10 for op in ops]

    group: GroupCommit[int, int] = GroupCommit(run, max_batch=3)
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert batches == [[1]]  # sent alone, without waiting for company
    rest = [asyncio.create_task(group.submit(n)) for n in (2, 3, 4, 13)]
    cancelled = asyncio.create_task(group.submit(5))
    await asyncio.sleep(0)
    cancelled.cancel()
    gate.set()
    assert await first == 10
    outcomes = await asyncio.gather(*rest, return_exceptions=True)
    assert batches == [[1], [2, 3, 4], [13, 5]]  # at most max_batch per command, in arrival order
    assert outcomes[:3] == [20, 30, 40]
    assert isinstance(outcomes[3], ConnectionError)
    assert cancelled.cancelled()
