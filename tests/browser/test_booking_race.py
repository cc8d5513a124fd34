"""Two patients in two browsers book the same slot at the same moment: exactly one gets it."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import datetime, time
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Page, Response, expect

from db.repositories.appointments import AppointmentRepository
from models.enums import AppointmentStatus
from tests.browser.conftest import LiveApp
from tests.browser.patient import (
    WAIT_SECONDS,
    background_done,
    check_page,
    choose_day,
    clinic_today,
    fill_details,
    offered_times,
    pick_time,
)

PATIENTS = ({"name": "Ann Lee", "email": "ann@example.com"}, {"name": "Bo Park", "email": "bo@example.com"})


class MeetAfterBusyRead(AppointmentRepository):
    """The real repository; the first `parties` reads of busy times wait for each other, then everything goes on.

    A booking reads the doctor's busy times to check that the slot is still offered, then claims it. Held here,
    both bookings have seen the slot free before either claims it, so only the claim guard can stop the second.
    """

    def __init__(self, db: Any, parties: int = 2) -> None:
        super().__init__(db)
        self.parties = parties
        self.arrived = 0
        self.met = threading.Event()  # read by the test, in another thread than the server's loop
        self._everyone_here = asyncio.Event()  # bound to the server's loop at its first wait

    async def busy_between(self, *, doctor: str, start: datetime, end: datetime) -> list[tuple[str, datetime, int]]:
        rows = await super().busy_between(doctor=doctor, start=start, end=end)
        if self.arrived < self.parties:
            self.arrived += 1
            if self.arrived == self.parties:
                self.met.set()
                self._everyone_here.set()
            await asyncio.wait_for(self._everyone_here.wait(), WAIT_SECONDS)
        return rows


async def submit(page: Page) -> Response:
    """Click Book and return the response to the form's POST (303 to the confirmation, or the page again)."""
    async with page.expect_response(
        lambda r: r.request.method == "POST" and urlsplit(r.url).path == "/book"
    ) as answered:
        await page.get_by_role("button", name="Book appointment").click()
    return await answered.value


async def test_two_browsers_booking_one_slot_at_once_exactly_one_wins(new_page: Any, live_app: LiveApp) -> None:
    """Both forms are submitted together (asyncio.gather of the two clicks), and the server's appointments
    repository holds each booking right after it read the busy times until the other has read them too: the
    two requests truly overlap at the slot claim (checked: `gate.met`), whatever the scheduling. Without the
    claim guard both would be booked."""
    live = live_app
    pages = [(await new_page(viewport)).page for viewport in ("phone", "desktop")]
    day = clinic_today(live)
    for page, patient in zip(pages, PATIENTS, strict=True):
        response = await page.goto("/book")
        assert response is not None and response.status == 200
        day = await choose_day(page, not_before=day)
        await fill_details(page, **patient)
    [first_offered] = {(await offered_times(page))[0] for page in pages}  # both look at the same day
    slot = first_offered
    for page in pages:
        await pick_time(page, slot)

    server = live.app.state.container
    gate = MeetAfterBusyRead(server.db)
    server.repos = dataclasses.replace(server.repos, appointments=gate)
    responses = await asyncio.gather(*(submit(page) for page in pages))

    assert gate.met.is_set()
    assert sorted(r.status for r in responses) == [303, 409]
    won, lost = sorted(range(2), key=lambda i: responses[i].status)
    winner, loser = pages[won], pages[lost]
    await expect(winner.get_by_role("heading", level=1)).to_have_text("Your appointment is booked")
    await expect(winner.locator("#detail-time")).to_contain_text(slot)

    # The loser: the booking page again, with a message, fresh times (the taken one is gone) and its input kept.
    await expect(loser.get_by_role("heading", level=1)).to_have_text("Book an appointment")
    await expect(loser.get_by_role("alert")).to_contain_text("That time was just taken; please choose another slot.")
    await expect(loser.locator("#form-message")).to_be_visible()
    await expect(loser).to_have_title(f"Error: Book an appointment \N{EN DASH} {live.settings.CLINIC_NAME}")
    await expect(loser.get_by_label("Full name")).to_have_value(PATIENTS[lost]["name"])
    await expect(loser.get_by_label("Email address")).to_have_value(PATIENTS[lost]["email"])
    await expect(loser.locator(f"#day-{day.isoformat()}")).to_have_attribute("aria-current", "true")
    fresh = await offered_times(loser)
    assert slot not in fresh and fresh
    await expect(loser.locator(f"#slot-{slot.replace(':', '')}")).to_have_count(0)
    await check_page(loser)

    # Exactly one appointment holds the slot, and exactly one confirmation went out, to the winner.
    start = datetime.combine(day, time.fromisoformat(slot), tzinfo=live.settings.zone)
    booked = await live.container.repos.appointments.count({"status": AppointmentStatus.BOOKED.value})
    at_slot = await live.container.repos.appointments.count({"start": start})
    assert (booked, at_slot) == (1, 1)
    await background_done(live)
    [confirmation] = live.smtp.messages
    assert confirmation["To"] == PATIENTS[won]["email"]

    # The loser picks one of the fresh times and gets it.
    await pick_time(loser, fresh[0])
    await loser.get_by_role("button", name="Book appointment").click()
    await expect(loser.get_by_role("heading", level=1)).to_have_text("Your appointment is booked")
    assert await live.container.repos.appointments.count({"status": AppointmentStatus.BOOKED.value}) == 2
