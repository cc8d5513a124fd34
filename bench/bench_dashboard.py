"""Dashboard at scale: one full computation (time, database commands) and dashboard-stats latency under load.

For each size N (campaigns; 10 interactions each; one appointment per campaign that reached a booking or was
offered one), the data is generated with sync pymongo `insert_many` in batches into the embedded SecantusDB, the
indexes are built, then:
- one full computation is timed in-process (DashboardService.compute, no snapshot) with a CommandListener
  counting the database commands it sends (goal: at most 3 at every size);
- the app runs under uvicorn in a subprocess and 20 concurrent clients GET /api/v1/admin/dashboard-stats
  (goal: p50 <= 50 ms at 100,000), after one priming request that waits for the cold snapshot: first closed-loop
  (each client sends its next request as soon as the previous answer arrives: the saturation rate), then paced
  (each client one request every 200 ms, 100 requests/s in all). Both runs last 20 s, so at least one background
  refresh of the 30 s snapshot happens while they run; they are repeated with DASHBOARD_MAX_AGE_SECONDS=120.

`BENCH_DASHBOARD_SIZES=10000,100000` (default) chooses the sizes.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from pymongo import MongoClient

from bench.common import (
    BENCH_JWT_SECRET,
    LoadResult,
    api_login,
    app_server,
    embedded_database,
    generate_load,
    print_table,
)
from core.clock import SystemClock
from core.config import Settings
from core.security import hash_password
from core.snapshot import Snapshot
from db.client import make_client
from db.indexes import INDEXES
from db.monitoring import CommandCounter
from db.repositories import Repositories
from domain.dashboard import DashboardService

CONCURRENCY = 20
DURATION_SECONDS = 20.0
PACED_INTERVAL_SECONDS = 0.2
# The default, and a larger maximum age for big clinics (fewer background recomputations on a busy database).
MAX_AGES = (30, 120)
BATCH = 5_000
INTERACTIONS_PER_CAMPAIGN = 10
HISTORY_DAYS = 425
TZ = "Europe/Berlin"
EMAIL = "bench-admin@bench.test"
PASSWORD = "bench-admin-password"  # noqa: S105 - a throwaway account in a throwaway database
STATUSES = [
    ("ATTEMPTING", 20),
    ("ENGAGED", 10),
    ("HANDOFF", 4),
    ("BOOKING_COMPLETED", 26),
    ("DECLINED", 12),
    ("FAILED", 22),
    ("PAUSED", 6),
]
APPOINTMENT_STATUSES = [("booked", 30), ("completed", 45), ("cancelled", 15), ("no_show", 10)]


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _documents(n: int, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Patients, campaigns, interactions and appointments for n campaigns (deterministic)."""
    rng = random.Random(n)
    docs: dict[str, list[dict[str, Any]]] = {"patients": [], "campaigns": [], "interactions": [], "appointments": []}
    for i in range(n):
        created = now - timedelta(seconds=rng.uniform(0, HISTORY_DAYS * 86400))
        kind = "RECOVERY" if rng.random() < 0.55 else "RECALL"
        status = _pick(rng, STATUSES)
        if status == "ATTEMPTING":
            status = f"ATTEMPTING_{kind}"
        converted = min(created + timedelta(days=rng.uniform(0, 30)), now) if status == "BOOKING_COMPLETED" else None
        patient_id, campaign_id = ObjectId(), ObjectId()
        docs["patients"].append(
            {
                "_id": patient_id,
                "name": f"Bench Patient {i}",
                "email": f"p{i}@bench.test",
                "phone": None,
                "opted_out_channels": [],
                "created_at": created,
                "updated_at": created,
            }
        )
        handoff = {"reason": "asked for a human", "at": created, "resolved_at": None} if status == "HANDOFF" else None
        docs["campaigns"].append(
            {
                "_id": campaign_id,
                "patient_id": patient_id,
                "campaign_type": kind,
                "status": status,
                "channel": "email",
                "follow_up_details": {
                    "attempts_made": 2,
                    "max_attempts": 3,
                    "next_follow_up_at": None,
                    "cadence_days": [2, 5, 10],
                },
                "engagement_summary": "",
                "handoff": handoff,
                "converted_at": converted,
                "created_at": created,
                "updated_at": converted or created,
            }
        )
        for k in range(INTERACTIONS_PER_CAMPAIGN):
            docs["interactions"].append(
                {
                    "_id": ObjectId(),
                    "campaign_id": campaign_id,
                    "patient_id": patient_id,
                    "direction": "outgoing" if k % 2 == 0 else "incoming",
                    "channel": "email",
                    "timestamp": created + timedelta(hours=6 * k),
                    "body": f"message {k} of campaign {i}",
                    "summary": "",
                    "intent": None,
                }
            )
        if converted is not None or rng.random() < 0.1:
            start = (converted or created) + timedelta(days=rng.uniform(1, 20))
            docs["appointments"].append(
                {
                    "_id": ObjectId(),
                    "patient_id": patient_id,
                    "campaign_id": campaign_id,
                    "doctor": "Dr. Smith",
                    "service": "Check-up",
                    "start": start,
                    "duration_minutes": 30,
                    "status": "booked" if start > now else _pick(rng, APPOINTMENT_STATUSES),
                    "created_at": converted or created,
                    "updated_at": converted or created,
                }
            )
    return docs


def generate(mongo_uri: str, db_name: str, n: int) -> dict[str, float]:
    """Insert the dataset in batches and build the indexes; returns seconds spent per phase."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    docs = _documents(n, datetime.now(UTC))
    timings["build documents"] = time.perf_counter() - started
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    with client:
        db = client[db_name]
        started = time.perf_counter()
        for name, items in docs.items():
            for offset in range(0, len(items), BATCH):
                db[name].insert_many(items[offset : offset + BATCH], ordered=False)
        timings["insert_many"] = time.perf_counter() - started
        started = time.perf_counter()
        for name, models in INDEXES.items():
            db[name].create_indexes(models)
        timings["create indexes"] = time.perf_counter() - started
        now = datetime.now(UTC)
        db["users"].insert_one(
            {
                "_id": ObjectId(),
                "email": EMAIL,
                "password_hash": hash_password(PASSWORD),
                "role": "admin",
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
        )
    timings["documents"] = sum(len(v) for v in docs.values())
    return timings


async def _compute(mongo_uri: str, db_name: str, runs: int) -> tuple[list[float], list[list[str]]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, JWT_SECRET_KEY=BENCH_JWT_SECRET, MONGO_URI=mongo_uri, MONGO_DB_NAME=db_name, TZ=TZ
    )
    counter = CommandCounter()
    client = make_client(settings, event_listeners=[counter])
    try:
        service = DashboardService(
            settings=settings, clock=SystemClock(), snapshot=Snapshot(), repos=Repositories.over(client[db_name])
        )
        await client.admin.command("ping")
        seconds, commands = [], []
        for _ in range(runs):
            counter.names.clear()
            started = time.perf_counter()
            await service.compute()
            seconds.append(time.perf_counter() - started)
            commands.append(list(counter.names))
        return seconds, commands
    finally:
        await client.close()


async def _paced_client(url: str, headers: dict[str, str], deadline: float, result: LoadResult) -> None:
    async with httpx.AsyncClient(headers=headers, timeout=60.0) as client:
        next_at = time.perf_counter()
        while next_at < deadline:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            started = time.perf_counter()
            try:
                response = await client.get(url)
            except httpx.HTTPError:
                result.errors += 1
            else:
                if response.status_code >= 400:
                    result.errors += 1
                else:
                    result.latencies.append(time.perf_counter() - started)
            next_at = max(next_at + PACED_INTERVAL_SECONDS, time.perf_counter())


async def _paced(url: str, headers: dict[str, str]) -> LoadResult:
    """CONCURRENCY clients, each one request every PACED_INTERVAL_SECONDS, for DURATION_SECONDS."""
    started = time.perf_counter()
    result = LoadResult(duration=DURATION_SECONDS)
    # Spread the clients' start over one interval so the requests arrive evenly.
    await asyncio.gather(
        *(
            _delayed(
                i * PACED_INTERVAL_SECONDS / CONCURRENCY,
                _paced_client(url, headers, started + DURATION_SECONDS, result),
            )
            for i in range(CONCURRENCY)
        )
    )
    result.duration = time.perf_counter() - started
    return result


async def _delayed(delay: float, job: Awaitable[None]) -> None:
    await asyncio.sleep(delay)
    await job


def _describe(label: str, result: LoadResult) -> str:
    return (
        f"{label}: {result.requests} requests in {result.duration:.1f} s, {result.requests_per_second:.0f} req/s,"
        f" p50 {result.percentile_ms(0.5):.1f} ms, p99 {result.percentile_ms(0.99):.1f} ms,"
        f" max {max(result.latencies, default=0) * 1000:.0f} ms, errors {result.errors}"
    )


def run_size(mongo_uri: str, n: int) -> list[list[object]]:
    """Generate, time one computation, then load the endpoint at each maximum age; returns table rows."""
    db_name = f"bench_dashboard_{n}"
    print(f"\n-- {n:,} campaigns --")
    timings = generate(mongo_uri, db_name, n)
    print(
        f"generated {int(timings['documents']):,} documents: build {timings['build documents']:.1f} s,"
        f" insert_many {timings['insert_many']:.1f} s, indexes {timings['create indexes']:.1f} s"
    )
    seconds, commands = asyncio.run(_compute(mongo_uri, db_name, runs=3))
    print(
        f"full computation: {', '.join(f'{s * 1000:.0f} ms' for s in seconds)}; commands per computation:"
        f" {[len(c) for c in commands]} {commands[0]}"
    )
    rows = []
    for max_age in MAX_AGES:
        env = {"TZ": TZ, "DASHBOARD_MAX_AGE_SECONDS": str(max_age)}
        with app_server(mongo_uri, db_name, extra_env=env) as app:
            auth = api_login(app.url, EMAIL, PASSWORD)
            url = app.url + "/api/v1/admin/dashboard-stats"
            started = time.perf_counter()
            primed = httpx.get(url, headers=auth, timeout=300.0)
            primed.raise_for_status()
            first = time.perf_counter() - started
            print(f"DASHBOARD_MAX_AGE_SECONDS={max_age}: first (cold snapshot) request {first * 1000:.0f} ms")
            closed = generate_load(url, concurrency=CONCURRENCY, duration=DURATION_SECONDS, headers=auth, warmup=0.5)
            print(_describe(f"  {CONCURRENCY} clients, closed loop", closed))
            paced = asyncio.run(_paced(url, auth))
            print(_describe(f"  {CONCURRENCY} clients, paced", paced))
        rows.append(
            [
                f"{n:,}",
                f"{statistics.median(seconds) * 1000:.0f}",
                max(len(c) for c in commands),
                max_age,
                f"{first * 1000:.0f}",
                f"{closed.requests_per_second:.0f}",
                f"{closed.percentile_ms(0.5):.1f}",
                f"{closed.percentile_ms(0.99):.1f}",
                f"{paced.requests_per_second:.0f}",
                f"{paced.percentile_ms(0.5):.1f}",
                f"{paced.percentile_ms(0.99):.1f}",
                closed.errors + paced.errors,
            ]
        )
    return rows


def main() -> None:
    """Run every size on a fresh embedded database and print the table."""
    sizes = [int(s) for s in os.environ.get("BENCH_DASHBOARD_SIZES", "10000,100000").split(",") if s.strip()]
    rows = []
    with embedded_database() as mongo_uri:
        for n in sizes:
            rows.extend(run_size(mongo_uri, n))
    print()
    print(
        f"dashboard-stats: {CONCURRENCY} concurrent clients, {DURATION_SECONDS:.0f} s closed loop then"
        f" {DURATION_SECONDS:.0f} s paced at {CONCURRENCY / PACED_INTERVAL_SECONDS:.0f} req/s; one uvicorn worker,"
        " embedded SecantusDB; compute = median of 3 in-process full computations"
    )
    print_table(
        [
            "campaigns",
            "compute ms",
            "db commands",
            "max age s",
            "cold request ms",
            "closed req/s",
            "closed p50 ms",
            "closed p99 ms",
            "paced req/s",
            "paced p50 ms",
            "paced p99 ms",
            "errors",
        ],
        rows,
    )
