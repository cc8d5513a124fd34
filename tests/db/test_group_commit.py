"""Group commit: concurrent writes share bulk commands, yet each caller gets exactly its own outcome."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, InvalidOperation

from db.group_commit import GroupCommit, grouped_inserts, grouped_updates
from db.monitoring import CommandCounter
from db.repositories.console_sessions import ConsoleSessionRepository
from db.repositories.interactions import InteractionRepository
from db.repositories.patients import PatientRepository
from models.base import new_id
from models.enums import Channel, Direction, Role
from models.interaction import Interaction
from models.patient import Patient
from models.system import ConsoleSession

WRITERS = 40
NOW = datetime(2026, 3, 29, 10, 15, tzinfo=UTC)


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


async def client_bulk_write_supported(collection: AsyncCollection[dict[str, Any]]) -> bool:
    """Whether the server takes the client bulkWrite command (MongoDB >= 8.0), decided as grouped_updates does."""
    namespace = f"{collection.database.name}.{collection.name}"
    try:
        await collection.database.client.bulk_write([UpdateOne({"_id": None}, {"$set": {"n": 0}}, namespace=namespace)])
    except InvalidOperation:
        return False
    return True


async def test_concurrent_updates_report_each_callers_own_result(counted: Any) -> None:
    collection, counter = counted
    ids = [ObjectId() for _ in range(WRITERS)]
    await collection.insert_many([{"_id": i, "key": str(i), "n": 0} for i in ids])
    updates = grouped_updates(collection)
    shared = await client_bulk_write_supported(collection)
    counter.names.clear()
    missing = ObjectId()
    guarded: list[tuple[dict[str, Any], dict[str, Any]]] = [({"_id": i, "n": 0}, {"$set": {"n": 1}}) for i in ids]
    results = await asyncio.gather(*(updates.submit(op) for op in [*guarded, ({"_id": missing}, {"$set": {"n": 1}})]))
    assert [r.matched_count for r in results] == [1] * WRITERS + [0]
    if shared:
        assert len(counter.names) < WRITERS / 4
    else:  # the fallback: each update is its own update command, the lone first one included
        assert counter.names == ["update"] * (WRITERS + 1)
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


# ---- grouped lookups: concurrent reads share one find, each caller gets exactly its own answer ------------------


@pytest.fixture
async def counted_db(mongo_uri: str, db_name: str) -> Any:
    """A database on a client whose commands are counted."""
    counter = CommandCounter()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, event_listeners=[counter], tz_aware=True)
    yield client[db_name], counter
    await client.drop_database(db_name)
    await client.close()


def _interaction(n: int, *, patient: str, campaign: str, thread: str, kind: str, minutes_ago: int) -> Interaction:
    return Interaction(
        id=new_id(),
        patient_id=patient,
        campaign_id=campaign,
        direction=Direction.OUTGOING,
        channel=Channel.EMAIL,
        timestamp=NOW - timedelta(minutes=minutes_ago),
        thread_id=thread,
        message_id_header=f"<m{n}@clinic.example>",
        kind=kind,
    )


async def test_concurrent_gets_share_finds_and_each_gets_its_own_document(counted_db: Any) -> None:
    db, counter = counted_db
    repo = PatientRepository(db)
    patients = [
        Patient(id=new_id(), name=f"P{n}", email=f"p{n}@example.com", created_at=NOW, updated_at=NOW)
        for n in range(WRITERS)
    ]
    await db["patients"].insert_many([p.to_mongo() for p in patients])
    counter.names.clear()
    asked = [p.id for p in patients] + [patients[0].id, new_id(), "not-an-id"]
    found = await asyncio.gather(*(repo.get(i) for i in asked))
    assert [f.name if f else None for f in found] == [p.name for p in patients] + ["P0", None, None]
    assert counter.names.count("find") < len(asked) / 4


async def test_a_get_asked_after_a_write_sees_it_even_while_other_gets_are_in_flight(counted_db: Any) -> None:
    db, _ = counted_db
    repo = PatientRepository(db)
    ann = Patient(id=new_id(), name="Ann", email="ann@example.com", created_at=NOW, updated_at=NOW)
    await repo.insert(ann)
    in_flight = [asyncio.create_task(repo.get(ann.id)) for _ in range(10)]
    await asyncio.sleep(0)
    await repo.update_fields(ann.id, {"name": "Ann Lee"}, now=NOW)
    after = await repo.get(ann.id)
    assert after is not None and after.name == "Ann Lee"
    await asyncio.gather(*in_flight)


async def test_concurrent_interaction_lookups_answer_like_lone_ones_with_fewer_finds(counted_db: Any) -> None:
    db, counter = counted_db
    repo = InteractionRepository(db)
    patients, campaigns = [new_id() for _ in range(6)], [new_id() for _ in range(6)]
    rows = [
        _interaction(
            n,
            patient=patients[n % 6],
            campaign=campaigns[n % 6],
            thread=f"thread-{n % 9}",
            kind="auto_reply" if n % 4 else "outreach",
            minutes_ago=n * 37,
        )
        for n in range(60)
    ]
    await db["interactions"].insert_many([r.to_mongo() for r in rows])

    def calls() -> list[Any]:
        return [
            *(repo.by_thread(f"thread-{t}") for t in range(10)),  # thread-9 has none
            *(repo.by_message_ids([f"<m{n}@clinic.example>", f"<m{n + 20}@clinic.example>"]) for n in range(0, 40, 4)),
            repo.by_message_ids(["<nobody@example.com>"]),
            *(repo.recent_for_campaign(c, limit=3) for c in campaigns),
            repo.recent_for_campaign(campaigns[0], limit=5),  # the same campaign again, a longer window
            repo.recent_for_campaign(campaigns[1], limit=0),
        ]

    alone = [await call for call in calls()]
    counter.names.clear()
    together = await asyncio.gather(*calls())
    assert together == alone
    assert counter.names.count("find") < len(alone) / 4
    # Spot checks of the answers themselves.
    newest_in_thread_0 = max((r for r in rows if r.thread_id == "thread-0"), key=lambda r: r.timestamp)
    assert together[0].id == newest_in_thread_0.id and together[9] is None
    assert together[10].message_id_header == "<m0@clinic.example>"  # m0 is newer than m20
    recent = together[21]
    assert [r.timestamp for r in recent] == sorted(r.timestamp for r in recent) and len(recent) == 3
    assert recent[-1].id == max((r for r in rows if r.campaign_id == campaigns[0]), key=lambda r: r.timestamp).id
    assert together[27][-3:] == recent and len(together[27]) == 5 and together[28] == []


async def test_concurrent_console_session_lookups_share_finds_and_expired_ones_are_not_live(counted_db: Any) -> None:
    db, counter = counted_db
    repo = ConsoleSessionRepository(db)

    def session(n: int, *, expires_in: timedelta) -> ConsoleSession:
        return ConsoleSession(
            id=new_id(),
            token_hash=f"hash-{n}",
            user_id=new_id(),
            role=Role.STAFF,
            csrf_token=f"csrf-{n}",
            created_at=NOW - timedelta(minutes=5),
            last_seen_at=NOW - timedelta(minutes=5),
            expires_at=NOW + expires_in,
        )

    sessions = [session(n, expires_in=timedelta(minutes=25)) for n in range(WRITERS)]
    expired = session(WRITERS, expires_in=-timedelta(seconds=1))
    await db["console_sessions"].insert_many([s.to_mongo() for s in [*sessions, expired]])
    counter.names.clear()
    asked = [s.token_hash for s in sessions] * 2 + [expired.token_hash, "hash-unknown"]
    found = await asyncio.gather(*(repo.live(h, now=NOW) for h in asked))
    assert [f.csrf_token if f else None for f in found] == [s.csrf_token for s in sessions] * 2 + [None, None]
    assert counter.names.count("find") < len(asked) / 4
