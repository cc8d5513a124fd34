"""After "that time was just taken", the picker shows the times as they are now, not as a cache remembered them.

The availability cache (AVAILABILITY_CACHE_SECONDS) is per app instance and forgets only this instance's own
writes; a booking made on another instance, or one still being written (its slot claimed, its appointment not yet
stored), is exactly what makes a booking fail with 409, so the page that says so must not offer that time again.
"""

from __future__ import annotations

from datetime import datetime, time

from core.container import build_container
from domain.booking import BookingRequest
from domain.slots import buckets
from models.base import new_id
from tests.web.conftest import Clinic
from tests.web.pages import html_page, manage_token_of
from tests.web.test_book_page import WEDNESDAY, form

DOCTOR = "Dr. Smith"


async def hold(clinic: Clinic, at: str, *, minutes: int = 30) -> None:
    """Claim the slot as a booking in flight does: its claims are written, its appointment is not stored yet."""
    zone = clinic.container.settings.zone
    start = datetime.combine(WEDNESDAY, time.fromisoformat(at), tzinfo=zone)
    claimed = await clinic.container.repos.slot_claims.claim(
        doctor=DOCTOR, bucket_starts=buckets(start, minutes), appointment_id=new_id(), now=clinic.clock.now()
    )
    assert claimed


async def test_a_slot_booked_on_another_instance_is_not_offered_on_the_409_page(clinic: Clinic) -> None:
    assert clinic.container.settings.AVAILABILITY_CACHE_SECONDS > 0
    shown = html_page(await clinic.http.get("/book", params={"day": WEDNESDAY.isoformat()}), 200)
    assert "09:00" in shown.times  # and now this instance's cache remembers it free
    other = await build_container(clinic.container.settings, clock=clinic.clock)  # a second app instance
    try:
        request = BookingRequest(
            name="Ann Lee",
            email="first@example.com",
            phone=None,
            day=WEDNESDAY,
            at=time(9, 0),
            duration_minutes=None,
            service="Check-up",
            doctor=DOCTOR,
        )
        await other.booking().book(request, ip=None)
    finally:
        await other.close()
    page = html_page(await clinic.http.post("/book", data=form(at="09:00")), 409)
    assert "That time is not available" in page.html and page.hidden["date"] == WEDNESDAY.isoformat()
    assert "09:00" not in page.times and "09:30" in page.times


async def test_a_slot_held_by_a_booking_in_flight_is_not_offered_on_the_409_page(clinic: Clinic) -> None:
    await hold(clinic, "09:00")
    page = html_page(await clinic.http.post("/book", data=form(at="09:00")), 409)
    assert "That time was just taken; please choose another slot." in page.html
    assert page.ids["name"]["value"] == "Pat Doe" and page.hidden["date"] == WEDNESDAY.isoformat()
    assert "09:00" not in page.times and "09:30" in page.times


async def test_a_slot_held_by_a_booking_in_flight_is_not_offered_when_moving_there_fails(clinic: Clinic) -> None:
    token = manage_token_of(await clinic.http.post("/book", data=form(at="12:00")))
    await hold(clinic, "15:00")
    page = html_page(
        await clinic.http.post(f"/manage/{token}/reschedule", data={"date": WEDNESDAY.isoformat(), "time": "15:00"}),
        409,
    )
    assert "That time was just taken" in page.html and page.hidden["date"] == WEDNESDAY.isoformat()
    assert "15:00" not in page.times and "15:30" in page.times
