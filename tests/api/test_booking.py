"""Availability, booking, self-service and staff appointment routes against the real test database."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pymongo import AsyncMongoClient

from core.clock import FixedClock, SystemClock
from core.config import Settings
from core.container import Container
from core.security import hash_password
from db.repositories.appointments import AppointmentRepository
from db.repositories.users import UserRepository
from domain.booking import ORPHAN_CLAIM_AGE
from domain.slots import buckets
from main import create_app
from models.appointment import Appointment
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import AppointmentStatus, CampaignStatus, CampaignType, Role
from services.email.fake import FakeEmail
from services.loopback import LiveServer

BERLIN = ZoneInfo("Europe/Berlin")


def bookable_day(min_days: int = 3, weekday: int = 2) -> date:
    """A Wednesday at least `min_days` ahead (inside the default horizon)."""
    day = datetime.now(BERLIN).date() + timedelta(days=min_days)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def booking(
    day: date, at: str = "09:00", *, email: str = "pat@example.com", duration: int = 30, **extra: Any
) -> dict[str, Any]:
    return {
        "name": "Pat Doe",
        "email": email,
        "date": day.isoformat(),
        "time": at,
        "duration_minutes": duration,
        "service": "Check-up" if duration == 30 else "Filling",
        **extra,
    }


def past_date_error(yesterday: date) -> str:
    """How yesterday is refused: a past day of this month, or a day of an earlier month."""
    today = yesterday + timedelta(days=1)
    return "past_date" if (yesterday.year, yesterday.month) == (today.year, today.month) else "out_of_range"


async def slots(client: httpx.AsyncClient, day: date, duration: int = 30) -> list[str]:
    response = await client.get(
        "/api/v1/availability",
        params={"month": day.month, "year": day.year, "date": day.isoformat(), "duration": duration},
    )
    assert response.status_code == 200, response.text
    days = response.json()["days"]
    assert [d["date"] for d in days] == [day.isoformat()]
    return list(days[0]["slots"])


async def counts(container: Container) -> tuple[int, int, int]:
    repos = container.repos
    return await repos.appointments.count(), await repos.slot_claims.count(), await repos.patients.count()


@pytest.fixture
def live_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(BOOKING_RATE_LIMIT_PER_IP=0, BOOKING_RATE_LIMIT_PER_EMAIL=0)


@pytest.fixture
async def live(
    live_settings: Settings, live_server: Callable[..., LiveServer], mongo_uri: str, db_name: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A real uvicorn serving the app, and a client with a connection pool big enough for real concurrency."""
    server = live_server(create_app(live_settings))
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
        yield http
    server.stop()
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as cleanup:
        await cleanup.drop_database(db_name)


# ---- availability ---------------------------------------------------------------------------------------------


async def test_month_lists_every_day_with_closed_days_empty(client: httpx.AsyncClient) -> None:
    day = bookable_day(min_days=40)
    response = await client.get("/api/v1/availability", params={"month": day.month, "year": day.year})
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "Europe/Berlin" and body["doctor"] == "Dr. Smith" and body["duration_minutes"] == 30
    assert len(body["days"]) in (28, 29, 30, 31)
    by_date = {d["date"]: d["slots"] for d in body["days"]}
    sunday = next(d for d in by_date if date.fromisoformat(d).weekday() == 6)
    assert by_date[sunday] == []
    assert by_date[day.isoformat()][0] == "09:00" and by_date[day.isoformat()][-1] == "20:00"


async def test_45_minute_booking_blocks_overlapping_slots(client: httpx.AsyncClient) -> None:
    day = bookable_day()
    response = await client.post("/api/v1/appointments/book", json=booking(day, "09:00", duration=45))
    assert response.status_code == 201, response.text
    free = await slots(client, day)
    assert "09:00" not in free and "09:30" not in free and "10:00" in free
    free_45 = await slots(client, day, 45)
    assert free_45[0] == "10:00" and free_45[-1] == "19:30"


async def test_other_doctor_is_independent(make_settings: Callable[..., Settings], mongo_uri: str) -> None:
    app = create_app(make_settings(CLINIC_DOCTORS="Dr. Patel"))
    day = bookable_day()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        assert (await http.post("/api/v1/appointments/book", json=booking(day))).status_code == 201
        other = await http.post("/api/v1/appointments/book", json=booking(day, doctor="Dr. Patel", email="o@x.com"))
        assert other.status_code == 201
        unknown = await http.get(
            "/api/v1/availability", params={"month": day.month, "year": day.year, "doctor": "Dr. Who"}
        )
        assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_doctor"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": 13, "year": 2027}, "month"),
        ({"month": 0, "year": 2027}, "month"),
        ({"month": 1, "year": 99999}, "year"),
        ({"month": 1, "year": 2027, "duration": 20}, "duration"),
        ({"month": 1, "year": 2027, "date": "2027-02-30"}, "date"),
        ({"year": 2027}, "month"),
    ],
)
async def test_availability_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await client.get("/api/v1/availability", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert field in [f["field"] for f in response.json()["fields"]]


async def test_availability_date_outside_month_past_or_beyond_horizon(client: httpx.AsyncClient) -> None:
    day = bookable_day()
    other_month = (day.replace(day=1) + timedelta(days=40)).replace(day=1)
    response = await client.get(
        "/api/v1/availability", params={"month": day.month, "year": day.year, "date": other_month.isoformat()}
    )
    assert response.status_code == 422 and response.json()["error"] == "date_not_in_month"
    far = datetime.now(UTC).date() + timedelta(days=200)
    response = await client.get("/api/v1/availability", params={"month": far.month, "year": far.year})
    assert response.status_code == 422 and response.json()["error"] == "out_of_range"
    past = datetime.now(BERLIN).date() - timedelta(days=1)
    response = await client.get(
        "/api/v1/availability", params={"month": past.month, "year": past.year, "date": past.isoformat()}
    )
    assert response.status_code == 422 and response.json()["error"] == past_date_error(past)


# ---- booking --------------------------------------------------------------------------------------------------


async def test_book_creates_patient_appointment_claims_and_confirmation(
    client: httpx.AsyncClient, container: Container
) -> None:
    outbox = FakeEmail()
    container.email = outbox
    day = bookable_day()
    response = await client.post(
        "/api/v1/appointments/book", json=booking(day, "10:30", duration=45, email="New.Patient@Example.com")
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "booked" and body["duration_minutes"] == 45 and body["doctor"] == "Dr. Smith"
    start = datetime.fromisoformat(body["start"])
    assert start.utcoffset() is not None
    assert start.astimezone(BERLIN).replace(tzinfo=None) == datetime.combine(day, datetime.min.time()).replace(
        hour=10, minute=30
    )
    assert body["manage_url"].startswith("http://localhost:8000/manage/")
    patient = await container.repos.patients.get_by_email("new.patient@example.com")
    assert patient is not None and patient.name == "Pat Doe"
    assert await counts(container) == (1, 3, 1)
    await container.drain()
    assert len(outbox.sent) == 1
    sent = outbox.sent[0]
    assert sent.to == "new.patient@example.com"
    assert "10:30" in sent.text and body["manage_url"] in sent.text and "Europe/Berlin" in sent.text
    stored = await container.repos.appointments.get(body["id"])
    token = body["manage_url"].rsplit("/", 1)[1]
    assert stored is not None and stored.manage_token_hash and token not in stored.manage_token_hash


async def test_same_patient_books_twice_without_duplicate_patient(
    client: httpx.AsyncClient, container: Container
) -> None:
    day = bookable_day()
    assert (await client.post("/api/v1/appointments/book", json=booking(day, "09:00"))).status_code == 201
    assert (await client.post("/api/v1/appointments/book", json=booking(day, "11:00"))).status_code == 201
    assert await counts(container) == (2, 4, 1)


async def test_taken_or_invalid_slot_is_409(client: httpx.AsyncClient, container: Container) -> None:
    day = bookable_day()
    assert (await client.post("/api/v1/appointments/book", json=booking(day, "09:00", duration=45))).status_code == 201
    for at in ("09:30", "09:00", "09:15", "20:30", "08:30"):
        response = await client.post("/api/v1/appointments/book", json=booking(day, at, email="b@example.com"))
        assert response.status_code == 409, at
        assert response.json()["error"] == "slot_unavailable"
    sunday = day + timedelta(days=4)
    closed = await client.post("/api/v1/appointments/book", json=booking(sunday, "10:00", email="c@example.com"))
    assert closed.status_code == 409
    assert await counts(container) == (1, 3, 1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time": "9am"}, "time"),
        ({"time": "25:00"}, "time"),
        ({"duration_minutes": 20}, "duration_minutes"),
        ({"date": "2027-13-01"}, "date"),
        ({"email": "not-an-email"}, "email"),
        ({"email": None}, "email"),
        ({"service": "   "}, "service"),
        ({"campaign_id": "xyz"}, "campaign_id"),
    ],
)
async def test_bad_booking_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, container: Container, change: dict[str, Any], field: str
) -> None:
    body = {**booking(bookable_day()), **change}
    if change.get("email", "") is None:
        del body["email"]
    response = await client.post("/api/v1/appointments/book", json=body)
    assert response.status_code == 422
    assert field in [f["field"] for f in response.json()["fields"]]
    assert await counts(container) == (0, 0, 0)


async def test_past_date_is_422_and_writes_nothing(client: httpx.AsyncClient, container: Container) -> None:
    yesterday = datetime.now(BERLIN).date() - timedelta(days=1)
    response = await client.post("/api/v1/appointments/book", json=booking(yesterday, "10:00"))
    assert response.status_code == 422 and response.json()["error"] == past_date_error(yesterday)
    assert await counts(container) == (0, 0, 0)


async def test_booking_converts_the_active_campaign_and_stops_follow_ups(
    client: httpx.AsyncClient, container: Container
) -> None:
    now = container.clock.now()
    patient, _ = await container.repos.patients.find_or_create(
        name="Pat Doe", email="pat@example.com", phone=None, now=now
    )
    active = Campaign(
        id=new_id(),
        patient_id=patient.id,
        campaign_type=CampaignType.RECALL,
        status=CampaignStatus.ATTEMPTING_RECALL,
        follow_up_details=FollowUpDetails(attempts_made=1, next_follow_up_at=now + timedelta(days=2)),
        created_at=now,
        updated_at=now,
    )
    closed = active.model_copy(
        update={"id": new_id(), "status": CampaignStatus.DECLINED, "campaign_type": CampaignType.RECOVERY}
    )
    await container.repos.campaigns.insert(active)
    await container.repos.campaigns.insert(closed)
    response = await client.post("/api/v1/appointments/book", json=booking(bookable_day()))
    assert response.status_code == 201
    converted = await container.repos.campaigns.get(active.id)
    assert converted is not None and converted.status == CampaignStatus.BOOKING_COMPLETED
    assert converted.converted_at is not None and converted.follow_up_details.next_follow_up_at is None
    untouched = await container.repos.campaigns.get(closed.id)
    assert untouched is not None and untouched.status == CampaignStatus.DECLINED and untouched.converted_at is None
    appointment = await container.repos.appointments.get(response.json()["id"])
    assert appointment is not None and appointment.campaign_id == active.id


async def test_someone_elses_campaign_id_is_not_converted(client: httpx.AsyncClient, container: Container) -> None:
    now = container.clock.now()
    other, _ = await container.repos.patients.find_or_create(
        name="Other", email="other@example.com", phone=None, now=now
    )
    campaign = Campaign(
        id=new_id(),
        patient_id=other.id,
        campaign_type=CampaignType.RECOVERY,
        status=CampaignStatus.ENGAGED,
        created_at=now,
        updated_at=now,
    )
    await container.repos.campaigns.insert(campaign)
    response = await client.post("/api/v1/appointments/book", json=booking(bookable_day(), campaign_id=campaign.id))
    assert response.status_code == 201
    stored = await container.repos.campaigns.get(campaign.id)
    assert stored is not None and stored.status == CampaignStatus.ENGAGED


async def test_rate_limit_per_email(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(BOOKING_RATE_LIMIT_PER_EMAIL=2))
    day = bookable_day()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        codes = [
            (await http.post("/api/v1/appointments/book", json=booking(day, at))).status_code
            for at in ("09:00", "10:00", "11:00")
        ]
        assert codes == [201, 201, 429]
        other = await http.post("/api/v1/appointments/book", json=booking(day, "12:00", email="x@example.com"))
        assert other.status_code == 201


async def test_rate_limit_per_ip(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(BOOKING_RATE_LIMIT_PER_IP=2))
    day = bookable_day()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        codes = [
            (await http.post("/api/v1/appointments/book", json=booking(day, at, email=f"{i}@x.com"))).status_code
            for i, at in enumerate(("09:00", "10:00", "11:00"))
        ]
        assert codes == [201, 201, 429]
        assert (await http.post("/api/v1/appointments/book", json=booking(day, "11:00"))).json()["error"] == (
            "rate_limited"
        )


# ---- real concurrency -----------------------------------------------------------------------------------------


async def test_50_concurrent_bookings_of_one_slot_exactly_one_wins(
    live: httpx.AsyncClient, mongo_uri: str, db_name: str
) -> None:
    day = bookable_day()
    responses = await asyncio.gather(
        *(
            live.post("/api/v1/appointments/book", json=booking(day, "14:00", email=f"p{i}@example.com"))
            for i in range(50)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 49
    assert all(r.json()["error"] == "slot_unavailable" for r in responses if r.status_code == 409)
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as check:
        db = check[db_name]
        assert await db.appointments.count_documents({}) == 1
        assert await db.slot_claims.count_documents({}) == 2


async def test_overlapping_45_and_30_minute_bookings_concurrently(
    live: httpx.AsyncClient, mongo_uri: str, db_name: str
) -> None:
    day = bookable_day()
    for round_ in range(5):
        first, second = await asyncio.gather(
            live.post(
                "/api/v1/appointments/book",
                json=booking(day + timedelta(days=7 * round_), "09:00", duration=45, email="a@example.com"),
            ),
            live.post(
                "/api/v1/appointments/book",
                json=booking(day + timedelta(days=7 * round_), "09:30", email="b@example.com"),
            ),
        )
        assert sorted([first.status_code, second.status_code]) == [201, 409]
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as check:
        db = check[db_name]
        assert await db.appointments.count_documents({}) == 5
        durations = [a["duration_minutes"] async for a in db.appointments.find({})]
        assert await db.slot_claims.count_documents({}) == sum(d // 15 for d in durations)


async def test_concurrent_cancel_and_book_stay_consistent(
    live: httpx.AsyncClient, mongo_uri: str, db_name: str
) -> None:
    day = bookable_day()
    for round_ in range(4):
        target = day + timedelta(days=7 * round_)
        first = await live.post("/api/v1/appointments/book", json=booking(target, "16:00", email="a@example.com"))
        token = first.json()["manage_url"].rsplit("/", 1)[1]
        cancel, rebook = await asyncio.gather(
            live.post(f"/api/v1/appointments/manage/{token}/cancel"),
            live.post("/api/v1/appointments/book", json=booking(target, "16:00", email="b@example.com")),
        )
        assert cancel.status_code == 200
        assert rebook.status_code in (201, 409)
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as check:
        db = check[db_name]
        live_appointments = [a async for a in db.appointments.find({"status": "booked"})]
        claims = [c async for c in db.slot_claims.find({})]
        # Every claim belongs to a booked appointment and every booked appointment holds its claims.
        assert {c["appointment_id"] for c in claims} == {a["_id"] for a in live_appointments}
        assert len(claims) == 2 * len(live_appointments)
    # Whatever the interleaving, the slot is bookable or booked, never lost.
    for round_ in range(4):
        target = day + timedelta(days=7 * round_)
        retry = await live.post("/api/v1/appointments/book", json=booking(target, "16:00", email="c@example.com"))
        assert retry.status_code in (201, 409)
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as check:
        assert await check[db_name].appointments.count_documents({"status": "booked"}) == 4


# ---- races made to meet at the guard --------------------------------------------------------------------------

WAIT_SECONDS = 30  # only bounds a hang when a request never reaches its meeting point


class MeetAfterBusyRead(AppointmentRepository):
    """The real repository; once armed, two requests that read busy times wait for each other before going on."""

    def __init__(self, db: Any, barrier: asyncio.Barrier):
        super().__init__(db)
        self.barrier = barrier

    async def busy_between(self, *, doctor: str, start: datetime, end: datetime) -> list[tuple[str, datetime, int]]:
        rows = await super().busy_between(doctor=doctor, start=start, end=end)
        await asyncio.wait_for(self.barrier.wait(), WAIT_SECONDS)
        return rows


class PauseAfterCancel(AppointmentRepository):
    """The real repository; holds the request that cancelled one appointment until the test lets it go on."""

    def __init__(self, db: Any, appointment_id: str):
        super().__init__(db)
        self.appointment_id = appointment_id
        self.reached = threading.Event()
        self.go_on = threading.Event()

    async def set_status(
        self, appointment_id: str, *, expected: AppointmentStatus, status: AppointmentStatus, now: datetime
    ) -> Appointment | None:
        changed = await super().set_status(appointment_id, expected=expected, status=status, now=now)
        if appointment_id == self.appointment_id and status == AppointmentStatus.CANCELLED:
            self.reached.set()
            await asyncio.to_thread(self.go_on.wait, WAIT_SECONDS)
        return changed


@dataclasses.dataclass
class ClockedLive:
    http: httpx.AsyncClient
    container: Container  # the server's own: its client belongs to the server's event loop
    clock: FixedClock
    db: Any  # this test's view of the same database

    def use_appointments(self, repository: AppointmentRepository) -> None:
        """Hand the server's booking service a different appointments repository from the next request on."""
        self.container.repos = dataclasses.replace(self.container.repos, appointments=repository)

    async def claims_match_booked(self) -> None:
        """Every booked appointment holds exactly its own buckets, and no claim is held by anything else."""
        held = [(str(c["appointment_id"]), c["bucket_start"]) async for c in self.db.slot_claims.find({})]
        expected = {
            (str(a["_id"]), b)
            async for a in self.db.appointments.find({"status": "booked"})
            for b in buckets(a["start"], a["duration_minutes"])
        }
        assert len(held) == len(set(held))
        assert set(held) == expected


@pytest.fixture
async def clocked_live(
    live_settings: Settings, live_server: Callable[..., LiveServer], mongo_uri: str, db_name: str
) -> AsyncIterator[ClockedLive]:
    """A real uvicorn on a fixed clock (starting now), with the server's container and a client of the database."""
    clock = FixedClock(SystemClock().now())
    application = create_app(live_settings, clock=clock)
    server = live_server(application)
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    async with (
        httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http,
        AsyncMongoClient[dict[str, Any]](mongo_uri, tz_aware=True) as check,
    ):
        yield ClockedLive(http, application.state.container, clock, check[db_name])
        server.stop()
        await check.drop_database(db_name)


async def test_two_reschedules_into_one_free_slot_exactly_one_wins(clocked_live: ClockedLive) -> None:
    live = clocked_live
    day = bookable_day()
    first_id, first_token = await _book(live.http, day, "09:00", email="a@example.com")
    second_id, second_token = await _book(live.http, day, "11:00", email="b@example.com")
    # Both requests have seen 15:00 free before either claims it.
    live.use_appointments(MeetAfterBusyRead(live.container.db, asyncio.Barrier(2)))
    responses = await asyncio.gather(
        *(
            live.http.post(
                f"/api/v1/appointments/manage/{token}/reschedule", json={"date": day.isoformat(), "time": "15:00"}
            )
            for token in (first_token, second_token)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    winner, loser = sorted(zip(responses, (first_id, second_id), strict=True), key=lambda pair: pair[0].status_code)
    assert loser[0].json()["error"] == "slot_unavailable"
    starts = {
        str(a["_id"]): a["start"].astimezone(BERLIN).strftime("%H:%M") async for a in live.db.appointments.find({})
    }
    assert starts == {winner[1]: "15:00", loser[1]: "09:00" if loser[1] == first_id else "11:00"}
    await live.claims_match_booked()


@pytest.mark.parametrize(
    ("claims_age", "racing_booking"),
    [(ORPHAN_CLAIM_AGE, 201), (timedelta(0), 409)],
    ids=["old-claims-healed", "young-claims-kept"],
)
async def test_staff_cancel_racing_a_booking_of_its_slot_stays_consistent(
    clocked_live: ClockedLive, claims_age: timedelta, racing_booking: int
) -> None:
    live = clocked_live
    day = bookable_day()
    cancelled_id, _ = await _book(live.http, day, "16:00", email="a@example.com")
    await UserRepository(live.db).create_or_reset(
        email="desk@clinic.test", password_hash=hash_password("pw-1234567890"), role=Role.STAFF, now=live.clock.now()
    )
    login = await live.http.post(
        "/api/v1/auth/login", data={"username": "desk@clinic.test", "password": "pw-1234567890"}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    live.clock.advance(claims_age)
    pause = PauseAfterCancel(live.container.db, cancelled_id)
    live.use_appointments(pause)
    cancel = asyncio.create_task(
        live.http.patch(f"/api/v1/appointments/{cancelled_id}", json={"status": "cancelled"}, headers=headers)
    )
    try:
        # The cancel has marked the appointment cancelled and not yet let go of its claims: now the slot is booked.
        assert await asyncio.to_thread(pause.reached.wait, WAIT_SECONDS)
        racing = await live.http.post("/api/v1/appointments/book", json=booking(day, "16:00", email="b@example.com"))
        assert racing.status_code == racing_booking, racing.text
    finally:
        pause.go_on.set()
    done = await cancel
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    await live.claims_match_booked()
    # The slot is never lost: either the racing booking holds it, or it is free again.
    after = await live.http.post("/api/v1/appointments/book", json=booking(day, "16:00", email="c@example.com"))
    assert after.status_code == (409 if racing_booking == 201 else 201)
    await live.claims_match_booked()


# ---- self-service ---------------------------------------------------------------------------------------------


async def _book(client: httpx.AsyncClient, day: date, at: str, **extra: Any) -> tuple[str, str]:
    response = await client.post("/api/v1/appointments/book", json=booking(day, at, **extra))
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["manage_url"].rsplit("/", 1)[1]


async def test_manage_link_shows_cancels_and_frees_the_slot(client: httpx.AsyncClient, container: Container) -> None:
    day = bookable_day()
    appointment_id, token = await _book(client, day, "12:00")
    shown = await client.get(f"/api/v1/appointments/manage/{token}")
    assert shown.status_code == 200 and shown.json()["id"] == appointment_id
    cancelled = await client.post(f"/api/v1/appointments/manage/{token}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert await container.repos.slot_claims.count() == 0
    assert "12:00" in await slots(client, day)
    rebook = await client.post("/api/v1/appointments/book", json=booking(day, "12:00", email="next@example.com"))
    assert rebook.status_code == 201
    again = await client.post(f"/api/v1/appointments/manage/{token}/cancel")
    assert again.status_code == 409 and again.json()["error"] == "not_changeable"


async def test_bad_or_forged_manage_tokens_are_404(client: httpx.AsyncClient) -> None:
    _, token = await _book(client, bookable_day(), "12:00")
    encoded, signature = token.split(".")
    for bad in (f"{encoded}.{signature[:-2]}AA", f"{encoded[:-2]}xx.{signature}", "a" * 40):
        response = await client.get(f"/api/v1/appointments/manage/{bad}")
        assert response.status_code == 404 and response.json()["error"] == "invalid_manage_link", bad


async def test_cancel_inside_minimum_notice_is_409(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(CANCEL_MIN_NOTICE_HOURS=24 * 30))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        _, token = await _book(http, bookable_day(), "12:00")
        response = await http.post(f"/api/v1/appointments/manage/{token}/cancel")
        assert response.status_code == 409
        assert response.json()["error"] == "too_late_to_change" and "hours" in response.json()["detail"]


async def test_reschedule_moves_and_frees_the_old_slot(client: httpx.AsyncClient, container: Container) -> None:
    day = bookable_day()
    _, token = await _book(client, day, "09:00", duration=45)
    moved = await client.post(
        f"/api/v1/appointments/manage/{token}/reschedule", json={"date": day.isoformat(), "time": "09:30"}
    )
    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(moved.json()["start"]).astimezone(BERLIN).strftime("%H:%M") == "09:30"
    free = await slots(client, day)
    assert "09:00" in free and "09:30" not in free and "10:00" not in free and "10:30" in free
    assert await container.repos.slot_claims.count() == 3


async def test_reschedule_into_taken_slot_is_409_and_keeps_the_old(
    client: httpx.AsyncClient, container: Container
) -> None:
    day = bookable_day()
    appointment_id, token = await _book(client, day, "09:00")
    await _book(client, day, "15:00", email="other@example.com")
    before = await container.repos.appointments.get(appointment_id)
    response = await client.post(
        f"/api/v1/appointments/manage/{token}/reschedule", json={"date": day.isoformat(), "time": "15:00"}
    )
    assert response.status_code == 409 and response.json()["error"] == "slot_unavailable"
    assert await container.repos.appointments.get(appointment_id) == before
    assert await container.repos.slot_claims.count() == 4
    bad = await client.post(
        f"/api/v1/appointments/manage/{token}/reschedule", json={"date": day.isoformat(), "time": "7 pm"}
    )
    assert bad.status_code == 422


async def test_orphaned_claims_from_a_crash_are_freed(client: httpx.AsyncClient, container: Container) -> None:
    day = bookable_day()
    appointment_id, _ = await _book(client, day, "13:00")
    # Simulate a crash after the claims were written but before the appointment: claims with no appointment.
    await container.repos.appointments.delete(appointment_id)
    await container.db["slot_claims"].update_many({}, {"$set": {"created_at": datetime.now(UTC) - timedelta(hours=1)}})
    response = await client.post("/api/v1/appointments/book", json=booking(day, "13:00", email="z@example.com"))
    assert response.status_code == 201
    assert await container.repos.slot_claims.count() == 2


# ---- staff routes ---------------------------------------------------------------------------------------------


async def test_staff_list_filters_pages_and_audits(
    client: httpx.AsyncClient, container: Container, login: Callable[..., Any]
) -> None:
    headers = await login(Role.STAFF)
    day = bookable_day()
    for i, at in enumerate(("15:00", "09:00", "11:00")):
        await _book(client, day, at, email=f"person{i}@example.com", name=f"Person {i}")
    await _book(client, day + timedelta(days=7), "09:00", email="zed@example.com", name="Zed Later")
    assert (await client.get("/api/v1/appointments")).status_code == 401
    page = await client.get("/api/v1/appointments", params={"page_size": 2}, headers=headers)
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 4 and body["page"] == 1 and body["page_size"] == 2 and len(body["items"]) == 2
    starts = [datetime.fromisoformat(i["start"]).astimezone(BERLIN).strftime("%H:%M") for i in body["items"]]
    assert starts == ["09:00", "11:00"]
    one_day = await client.get(
        "/api/v1/appointments", params={"from": day.isoformat(), "to": day.isoformat()}, headers=headers
    )
    assert one_day.json()["total"] == 3
    search = await client.get("/api/v1/appointments", params={"q": "ZED"}, headers=headers)
    assert [i["patient_name"] for i in search.json()["items"]] == ["Zed Later"]
    assert search.json()["items"][0]["patient_email"] == "zed@example.com"
    status = await client.get("/api/v1/appointments", params={"status": "cancelled"}, headers=headers)
    assert status.json()["total"] == 0
    first = body["items"][0]["id"]
    cancel = await client.patch(f"/api/v1/appointments/{first}", json={"status": "cancelled"}, headers=headers)
    assert cancel.status_code == 200
    kept = await client.get("/api/v1/appointments", params={"status": "not_cancelled"}, headers=headers)
    assert kept.json()["total"] == 3 and first not in [i["id"] for i in kept.json()["items"]]
    bad = await client.get("/api/v1/appointments", params={"status": "gone"}, headers=headers)
    assert bad.status_code == 422
    records, _ = await container.repos.audit.page(skip=0, limit=50)
    assert sum(r.action == "appointments.list" for r in records) == 5


async def test_staff_patch_status_and_cancel_frees_slot(
    client: httpx.AsyncClient, container: Container, login: Callable[..., Any]
) -> None:
    headers = await login(Role.STAFF)
    day = bookable_day()
    done_id, _ = await _book(client, day, "09:00")
    cancel_id, _ = await _book(client, day, "10:00", email="b@example.com")
    done = await client.patch(f"/api/v1/appointments/{done_id}", json={"status": "completed"}, headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "completed"
    cancelled = await client.patch(f"/api/v1/appointments/{cancel_id}", json={"status": "cancelled"}, headers=headers)
    assert cancelled.status_code == 200
    assert "10:00" in await slots(client, day) and "09:00" not in await slots(client, day)
    again = await client.patch(f"/api/v1/appointments/{done_id}", json={"status": "no_show"}, headers=headers)
    assert again.status_code == 409
    assert (
        await client.patch(f"/api/v1/appointments/{new_id()}", json={"status": "completed"}, headers=headers)
    ).status_code == 404
    assert (
        await client.patch("/api/v1/appointments/nope", json={"status": "completed"}, headers=headers)
    ).status_code == 422
    assert (
        await client.patch(f"/api/v1/appointments/{done_id}", json={"status": "booked"}, headers=headers)
    ).status_code == 422


async def test_booking_and_cancel_mark_the_dashboard_snapshot_stale(
    client: httpx.AsyncClient, container: Container
) -> None:
    calls: list[str] = []
    container.dashboard_snapshot.mark_stale = lambda: calls.append("stale")  # type: ignore[method-assign]
    _, token = await _book(client, bookable_day(), "12:30")
    assert calls == ["stale"]
    assert (await client.post(f"/api/v1/appointments/manage/{token}/cancel")).status_code == 200
    assert calls == ["stale", "stale"]
