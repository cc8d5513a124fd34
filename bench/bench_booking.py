"""Booking: availability throughput against `GET /`, database commands per availability, and a booking race.

1. With 2,000 booked appointments in the database, requests per second of `GET /api/v1/availability` for a
   busy month and of `GET /`, on one uvicorn worker; the ratio availability/root (goal >= 0.25).
2. Database commands one `BookingService.availability(month)` call sends (in-process, counted by a PyMongo
   command listener; the connection handshake is not counted): must be 1.
3. 200 concurrent bookings, two per slot over 100 free slots, fired at once: exactly 100 must get 201.
"""

from __future__ import annotations

import asyncio
import random
import time as clock
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from bson import ObjectId
from pymongo import MongoClient

from bench.common import BENCH_JWT_SECRET, LoadResult, app_server, embedded_database, generate_load, print_table
from core.clock import SystemClock
from core.config import Settings
from db.client import make_client
from db.monitoring import CommandCounter
from db.repositories import Repositories
from domain.booking import BookingService
from models.appointment import Appointment
from services.email.fake import FakeEmail

CONCURRENCY = 16
DURATION_SECONDS = 5.0
RATIO_GOAL = 0.25
DB_NAME = "bench_booking"
CLINIC_TZ = "Europe/Berlin"
ZONE = ZoneInfo(CLINIC_TZ)
DOCTOR = Settings.model_fields["CONSULTING_DOCTOR"].default  # "Dr. Smith"
OTHER_DOCTOR = "Dr. Patel"
RACE_DOCTOR = "Dr. Bench"
APP_ENV = {
    "TZ": CLINIC_TZ,
    "BOOKING_RATE_LIMIT_PER_IP": "0",
    "BOOKING_RATE_LIMIT_PER_EMAIL": "0",
    "CLINIC_DOCTORS": f"{OTHER_DOCTOR},{RACE_DOCTOR}",
}

# Seed: 2,000 booked 30-minute appointments on half-hour starts 09:00..20:00 (ending by 20:30, Berlin time),
# Monday to Saturday over the next 63 days, no two for the same doctor at the same time.
SEED_DAYS = 63
SEED_COUNTS = {DOCTOR: 1_150, OTHER_DOCTOR: 850}
SEED_FIRST_START = time(9, 0)
SEED_LAST_START = time(20, 0)
SUNDAY = 6

# Part 2.
COUNTED_CALLS = 5

# Part 3.
RACE_SLOTS = 100
RACE_REQUESTS_PER_SLOT = 2
RACE_MIN_DAYS_AHEAD = 3
RACE_FIRST_START = time(9, 0)
RACE_LAST_START = time(14, 0)
RACE_TIMEOUT_SECONDS = 120.0


def _half_hours(first: time, last: time) -> list[time]:
    starts, at = [], datetime.combine(date.min, first)
    while at.time() <= last:
        starts.append(at.time())
        at += timedelta(minutes=30)
    return starts


def _local_today() -> date:
    return datetime.now(ZONE).date()


def _utc(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=ZONE).astimezone(UTC)


# ---- seed ---------------------------------------------------------------------------------------------------


def _seed(mongo_uri: str) -> Counter[tuple[int, int]]:
    """Insert the appointments with sync pymongo; returns the consulting doctor's count per (year, month)."""
    today = _local_today()
    grid = [
        (day, at)
        for day in (today + timedelta(days=n) for n in range(1, SEED_DAYS + 1))
        if day.weekday() != SUNDAY
        for at in _half_hours(SEED_FIRST_START, SEED_LAST_START)
    ]
    rng = random.Random(20_000)
    now = datetime.now(UTC).replace(microsecond=0)
    docs: list[dict[str, Any]] = []
    per_month: Counter[tuple[int, int]] = Counter()
    for doctor, count in SEED_COUNTS.items():
        for day, at in rng.sample(grid, count):
            appointment = Appointment(
                id=str(ObjectId()),
                patient_id=str(ObjectId()),
                doctor=doctor,
                service="Consultation",
                start=_utc(day, at),
                duration_minutes=30,
                created_at=now,
                updated_at=now,
            )
            docs.append(appointment.to_mongo())
            if doctor == DOCTOR:
                per_month[(day.year, day.month)] += 1
    rng.shuffle(docs)
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    with client:
        client[DB_NAME]["appointments"].insert_many(docs)
    return per_month


# ---- 1. availability vs GET / -------------------------------------------------------------------------------


def _throughput(base_url: str, year: int, month: int, booked_in_month: int) -> None:
    path = f"/api/v1/availability?month={month}&year={year}"
    probe = httpx.get(base_url + path, timeout=10.0)
    probe.raise_for_status()
    free = sum(len(d["slots"]) for d in probe.json()["days"])
    print(
        f"{sum(SEED_COUNTS.values()):,} booked appointments seeded ({DOCTOR}: {SEED_COUNTS[DOCTOR]:,},"
        f" {OTHER_DOCTOR}: {SEED_COUNTS[OTHER_DOCTOR]:,}); TZ={CLINIC_TZ}"
    )
    print(
        f"{path}: {DOCTOR} has {booked_in_month} appointments that month; the response lists {free} free"
        f" slots ({len(probe.content):,} bytes)"
    )
    print(f"{CONCURRENCY} concurrent clients, {DURATION_SECONDS:.0f} s per endpoint, one uvicorn worker")
    availability = generate_load(base_url + path, concurrency=CONCURRENCY, duration=DURATION_SECONDS)
    root = generate_load(base_url + "/", concurrency=CONCURRENCY, duration=DURATION_SECONDS)
    print_table(
        ["endpoint", "req/s", "p50 ms", "p99 ms", "errors"],
        [availability.row(f"GET {path}"), root.row("GET /")],
    )
    ratio = availability.requests_per_second / root.requests_per_second if root.requests_per_second else 0.0
    verdict = "met" if ratio >= RATIO_GOAL else "NOT met"
    print(f"ratio availability/root: {ratio:.2f} (goal >= {RATIO_GOAL:.2f}: {verdict})")


# ---- 2. database commands per availability ------------------------------------------------------------------


async def _count_commands(mongo_uri: str, year: int, month: int) -> list[list[str]]:
    settings = Settings(
        ENVIRONMENT="development",
        JWT_SECRET_KEY=BENCH_JWT_SECRET,
        MONGO_URI=mongo_uri,
        MONGO_DB_NAME=DB_NAME,
        TZ=CLINIC_TZ,
        CLINIC_DOCTORS=[OTHER_DOCTOR, RACE_DOCTOR],
        BOOKING_RATE_LIMIT_PER_IP=0,
        BOOKING_RATE_LIMIT_PER_EMAIL=0,
    )
    counter = CommandCounter()
    client = make_client(settings, event_listeners=[counter])
    try:
        service = BookingService(
            settings=settings,
            clock=SystemClock(),
            repos=Repositories.over(client[settings.MONGO_DB_NAME]),
            email=FakeEmail(),
            sms=None,
        )
        per_call = []
        for _ in range(COUNTED_CALLS):
            counter.names.clear()
            await service.availability(year=year, month=month, day=None, duration_minutes=30, doctor=None)
            per_call.append(list(counter.names))
        return per_call
    finally:
        await client.close()


def _commands(mongo_uri: str, year: int, month: int) -> None:
    per_call = asyncio.run(_count_commands(mongo_uri, year, month))
    counts = sorted({len(names) for names in per_call})
    shown = counts[0] if len(counts) == 1 else f"{counts[0]}..{counts[-1]}"
    print(f"database commands per availability(month) request: {shown}")
    kinds = Counter(name for names in per_call for name in names)
    print(f"  ({COUNTED_CALLS} in-process calls, handshake excluded; commands seen: {dict(kinds)})")
    if counts != [1]:
        print("  NOT 1: " + "; ".join(f"call {i + 1}: {names}" for i, names in enumerate(per_call)))


# ---- 3. booking race ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    status: int | str
    seconds: float


def _race_slots() -> list[tuple[date, time]]:
    """RACE_SLOTS certainly offered slots: Monday to Saturday, >= 3 days ahead, 09:00..14:00, in the horizon."""
    horizon = Settings.model_fields["BOOKING_MAX_DAYS_AHEAD"].default
    today = _local_today()
    slots: list[tuple[date, time]] = []
    day = today + timedelta(days=RACE_MIN_DAYS_AHEAD)
    while len(slots) < RACE_SLOTS:
        if (day - today).days > horizon:
            raise RuntimeError("not enough bookable days within the horizon")
        if day.weekday() != SUNDAY:
            slots.extend((day, at) for at in _half_hours(RACE_FIRST_START, RACE_LAST_START))
        day += timedelta(days=1)
    return slots[:RACE_SLOTS]


async def _fire(base_url: str, slots: list[tuple[date, time]]) -> tuple[float, list[_Outcome]]:
    total = len(slots) * RACE_REQUESTS_PER_SLOT
    limits = httpx.Limits(max_connections=total, max_keepalive_connections=total)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=RACE_TIMEOUT_SECONDS) as client:

        async def book(index: int, day: date, at: time) -> _Outcome:
            body = {
                "name": f"Race Patient {index}",
                "email": f"race-{index}@bench.example",
                "date": day.isoformat(),
                "time": f"{at:%H:%M}",
                "duration_minutes": 30,
                "service": "Consultation",
                "doctor": RACE_DOCTOR,
            }
            started = clock.perf_counter()
            try:
                response = await client.post("/api/v1/appointments/book", json=body)
                status: int | str = response.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            return _Outcome(status, clock.perf_counter() - started)

        requests = [
            book(n * RACE_REQUESTS_PER_SLOT + k, day, at)
            for n, (day, at) in enumerate(slots)
            for k in range(RACE_REQUESTS_PER_SLOT)
        ]
        started = clock.perf_counter()
        outcomes = await asyncio.gather(*requests)
        return clock.perf_counter() - started, outcomes


def _stored(mongo_uri: str) -> tuple[int, int, int]:
    """(appointments, distinct starts, slot claims) of the race doctor, read back from the database."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    with client:
        db = client[DB_NAME]
        starts = [doc["start"] for doc in db["appointments"].find({"doctor": RACE_DOCTOR}, {"start": 1})]
        claims = db["slot_claims"].count_documents({"doctor": RACE_DOCTOR})
    return len(starts), len(set(starts)), claims


def _race(base_url: str, mongo_uri: str) -> bool:
    slots = _race_slots()
    total = len(slots) * RACE_REQUESTS_PER_SLOT
    print(
        f"{total} concurrent POST /api/v1/appointments/book ({RACE_REQUESTS_PER_SLOT} per slot, different"
        f" emails) over {len(slots)} free slots of {RACE_DOCTOR} ({slots[0][0]} .. {slots[-1][0]},"
        f" 09:00..14:00), one AsyncClient with {total} connections"
    )
    wall, outcomes = asyncio.run(_fire(base_url, slots))
    by_status: dict[int | str, list[float]] = {}
    for outcome in outcomes:
        by_status.setdefault(outcome.status, []).append(outcome.seconds)
    rows = []
    for status in sorted(by_status, key=str):
        result = LoadResult(duration=wall, latencies=by_status[status])
        rows.append([status, result.requests, f"{result.percentile_ms(0.50):.1f}", f"{result.percentile_ms(0.99):.1f}"])
    everything = LoadResult(duration=wall, latencies=[o.seconds for o in outcomes])
    rows.append(
        ["all", everything.requests, f"{everything.percentile_ms(0.50):.1f}", f"{everything.percentile_ms(0.99):.1f}"]
    )
    print(f"total wall time: {wall:.2f} s")
    print_table(["status", "count", "p50 ms", "p99 ms"], rows)
    created, conflicts = len(by_status.get(201, [])), len(by_status.get(409, []))
    others = {status: len(times) for status, times in by_status.items() if status not in (201, 409)}
    print(f"201: {created}, 409: {conflicts}, other statuses: {others or 'none'}")
    appointments, distinct, claims = _stored(mongo_uri)
    print(f"stored for {RACE_DOCTOR}: {appointments} appointments at {distinct} distinct starts, {claims} slot claims")
    ok = created == len(slots) and conflicts == len(slots) and not others
    ok = ok and appointments == distinct == len(slots) and claims == 2 * len(slots)
    print(f"race check: {'OK' if ok else 'FAILED'} (expected exactly {len(slots)} x 201 and {len(slots)} x 409)")
    return ok


# ---- entry point --------------------------------------------------------------------------------------------


def main() -> None:
    """Seed, then run the three parts against one database and one app process."""
    with embedded_database() as mongo_uri:
        per_month = _seed(mongo_uri)
        (year, month), booked_in_month = per_month.most_common(1)[0]
        with app_server(mongo_uri, DB_NAME, extra_env=APP_ENV) as app:
            print("-- 1. availability vs GET / " + "-" * 50)
            _throughput(app.url, year, month, booked_in_month)
            print("\n-- 2. database commands " + "-" * 54)
            _commands(mongo_uri, year, month)
            print("\n-- 3. booking race " + "-" * 59)
            race_ok = _race(app.url, mongo_uri)
    if not race_ok:
        raise RuntimeError("the booking race did not give exactly one 201 per slot")
