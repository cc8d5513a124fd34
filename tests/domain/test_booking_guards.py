"""The booking guards one at a time, on a fixed clock: orphan healing, claim release, cache invalidation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from core.clock import FixedClock
from core.config import Settings
from core.container import Container, build_container
from domain.audit import Actor
from domain.booking import ORPHAN_CLAIM_AGE, BookingRequest, BookingService, SlotUnavailable
from domain.slots import buckets
from models.appointment import Appointment
from models.base import new_id
from models.enums import AppointmentStatus

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 7 January 2030, 08:00 in Berlin; the visits are on the Wednesday after.
NOW = datetime(2030, 1, 7, 8, 0, tzinfo=BERLIN).astimezone(UTC)
DAY = date(2030, 1, 9)
DOCTOR = "Dr. Smith"
STAFF = Actor(email="desk@clinic.test", ip=None)


def utc(at: str) -> datetime:
    """The UTC start of a local time on DAY."""
    return datetime.combine(DAY, time.fromisoformat(at), tzinfo=BERLIN).astimezone(UTC)


def request(at: str, email: str) -> BookingRequest:
    return BookingRequest(
        name="Pat Doe", email=email, phone=None, day=DAY, at=time.fromisoformat(at), duration_minutes=30,
        service="Check-up",
    )  # fmt: skip


async def claims_by_owner(container: Container) -> dict[str, set[datetime]]:
    """Every held claim, as {appointment_id: {bucket_start, ...}}."""
    held: dict[str, set[datetime]] = {}
    async for doc in container.db["slot_claims"].find({}):
        held.setdefault(str(doc["appointment_id"]), set()).add(doc["bucket_start"])
    return held


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
async def make_container(
    make_settings: Callable[..., Settings], clock: FixedClock, mongo_uri: str, db_name: str
) -> AsyncIterator[Callable[..., Any]]:
    """Build a container on the fixed clock (settings overrides as keywords); closed and dropped afterwards."""
    built: list[Container] = []

    async def build(**overrides: Any) -> Container:
        settings = make_settings(BOOKING_RATE_LIMIT_PER_IP=0, BOOKING_RATE_LIMIT_PER_EMAIL=0, **overrides)
        container = await build_container(settings, clock=clock)
        built.append(container)
        return container

    yield build
    for container in built:
        await container.close()
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as cleanup:
        await cleanup.drop_database(db_name)


# ---- orphan healing -------------------------------------------------------------------------------------------


async def test_a_young_claim_is_never_taken_then_healed_once_30_seconds_old(
    make_container: Callable[..., Any], clock: FixedClock
) -> None:
    container: Container = await make_container()
    service: BookingService = container.booking()
    # A booking in flight: its claims are written, its appointment not yet.
    in_flight = new_id()
    slot = buckets(utc("09:00"), 30)
    assert await container.repos.slot_claims.claim(
        doctor=DOCTOR, bucket_starts=slot, appointment_id=in_flight, now=clock.now()
    )
    clock.advance(ORPHAN_CLAIM_AGE - timedelta(milliseconds=1))
    with pytest.raises(SlotUnavailable):
        await service.book(request("09:00", "early@example.com"), ip=None)
    assert await claims_by_owner(container) == {in_flight: set(slot)}
    assert await container.repos.appointments.count() == 0

    clock.advance(timedelta(milliseconds=1))  # now exactly ORPHAN_CLAIM_AGE old: an orphan
    booked = await service.book(request("09:00", "later@example.com"), ip=None)
    assert await claims_by_owner(container) == {booked.appointment.id: set(slot)}


async def test_a_claim_of_a_cancelled_appointment_is_freed(
    make_container: Callable[..., Any], clock: FixedClock
) -> None:
    container: Container = await make_container()
    service: BookingService = container.booking()
    first = await service.book(request("09:00", "first@example.com"), ip=None)
    # A crash between the status change and the release: cancelled, yet still holding its claims.
    cancelled = await container.repos.appointments.set_status(
        first.appointment.id, expected=AppointmentStatus.BOOKED, status=AppointmentStatus.CANCELLED, now=clock.now()
    )
    assert cancelled is not None
    slot = set(buckets(utc("09:00"), 30))
    assert await claims_by_owner(container) == {first.appointment.id: slot}
    clock.advance(ORPHAN_CLAIM_AGE)
    second = await service.book(request("09:00", "second@example.com"), ip=None)
    assert await claims_by_owner(container) == {second.appointment.id: slot}


# ---- a failed appointment write -------------------------------------------------------------------------------


async def test_a_failed_appointment_insert_releases_its_claims(make_container: Callable[..., Any]) -> None:
    container: Container = await make_container()
    service: BookingService = container.booking()
    # A real index violation: one appointment per doctor, and the doctor already has a (cancelled) one.
    earlier = Appointment(
        id=new_id(), patient_id=new_id(), doctor=DOCTOR, service="Check-up", start=utc("12:00"),
        status=AppointmentStatus.CANCELLED, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    await container.repos.appointments.insert(earlier)
    await container.db["appointments"].create_index("doctor", unique=True, name="one_per_doctor")
    with pytest.raises(DuplicateKeyError):
        await service.book(request("09:00", "pat@example.com"), ip=None)
    assert await claims_by_owner(container) == {}
    assert await container.repos.appointments.count() == 1

    await container.db["appointments"].drop_index("one_per_doctor")
    # Same instant: a claim left behind would be young, and would refuse this booking.
    booked = await service.book(request("09:00", "pat@example.com"), ip=None)
    assert await claims_by_owner(container) == {booked.appointment.id: set(buckets(utc("09:00"), 30))}


# ---- availability cache ---------------------------------------------------------------------------------------


async def test_every_booking_change_invalidates_cached_availability(make_container: Callable[..., Any]) -> None:
    container: Container = await make_container(AVAILABILITY_CACHE_SECONDS=3600)
    service: BookingService = container.booking()

    async def free() -> list[str]:
        result = await service.availability(year=DAY.year, month=DAY.month, day=DAY, duration_minutes=30, doctor=None)
        return [f"{t:%H:%M}" for t in result.days[0].slots]

    assert {"09:00", "10:00"} <= set(await free())
    # Inside the cache window: a write behind the service's back is not seen (the cache is in use).
    outside = Appointment(
        id=new_id(), patient_id=new_id(), doctor=DOCTOR, service="Check-up", start=utc("10:00"),
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    await container.repos.appointments.insert(outside)
    assert "10:00" in await free()

    booked = await service.book(request("09:00", "pat@example.com"), ip=None)
    after_booking = await free()
    assert "09:00" not in after_booking and "10:00" not in after_booking

    token = booked.manage_url.rsplit("/", 1)[1]
    await service.reschedule_by_token(token, day=DAY, at=time(11, 0))
    after_move = await free()
    assert "09:00" in after_move and "11:00" not in after_move

    await service.set_status(STAFF, booked.appointment.id, AppointmentStatus.CANCELLED)
    assert "11:00" in await free()


async def test_a_claim_without_a_creation_time_counts_as_old(make_container: Callable[..., Any]) -> None:
    container: Container = await make_container()
    # Written by another tool: no created_at, and no appointment behind it.
    await container.db["slot_claims"].insert_one(
        {"doctor": DOCTOR, "bucket_start": utc("09:00"), "appointment_id": ObjectId()}
    )
    booked = await container.booking().book(request("09:00", "pat@example.com"), ip=None)
    assert await claims_by_owner(container) == {booked.appointment.id: set(buckets(utc("09:00"), 30))}
