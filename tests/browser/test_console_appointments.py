"""Staff in a real browser: the agenda, marking a no-show, the month's list, booking for a caller with the picker."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from core.container import Container
from models.appointment import Appointment
from models.base import new_id
from models.enums import AppointmentStatus
from models.patient import Patient
from tests.browser.conftest import LiveApp
from tests.browser.console import sign_in
from tests.browser.patient import check_page, choose_day, clinic_today, offered_times, pick_time


@pytest.fixture
def live_app_overrides() -> dict[str, Any]:
    """Two doctors, so the agenda groups by doctor."""
    return {"CLINIC_DOCTORS": "Dr. Patel", "EMAIL_BACKEND": "disabled"}


async def seed_today(live_app: LiveApp, at: time, *, doctor: str, name: str) -> Appointment:
    """A booked appointment today at a local wall time."""
    container: Container = live_app.container
    now = container.clock.now()
    patient = await container.repos.patients.insert(
        Patient(id=new_id(), name=name, email=f"{name.split()[0].lower()}@example.com", created_at=now, updated_at=now)
    )
    start = datetime.combine(clinic_today(live_app), at, tzinfo=live_app.settings.zone)
    appointment = Appointment(
        id=new_id(),
        patient_id=patient.id,
        doctor=doctor,
        service="Check-up",
        start=start.astimezone(live_app.settings.zone),
        duration_minutes=30,
        created_at=now,
        updated_at=now,
    )
    return await container.repos.appointments.insert(appointment)


async def test_staff_mark_a_no_show_and_book_for_a_phone_caller(page: Page, live_app: LiveApp) -> None:
    ann = await seed_today(live_app, time(10, 0), doctor="Dr. Smith", name="Ann Lee")
    await seed_today(live_app, time(11, 30), doctor="Dr. Patel", name="Bob Roe")
    await sign_in(page, live_app)

    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Appointments").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Appointments")
    await expect(page.get_by_role("heading", level=2, name="Dr. Smith")).to_be_visible()
    await expect(page.get_by_role("heading", level=2, name="Dr. Patel")).to_be_visible()
    row = page.locator(f"#appointment-{ann.id}")
    await expect(row).to_contain_text("10:00\N{EN DASH}10:30")
    await expect(row).to_contain_text("Ann Lee")
    await check_page(page)

    await row.get_by_role("button", name=re.compile(r"^No-show")).click()
    await expect(page.locator("#done-notice")).to_have_text("The appointment was marked as a no-show.")
    await expect(page.locator(f"#status-label-{ann.id}")).to_have_text("No-show")
    stored = await live_app.container.repos.appointments.get(ann.id)
    assert stored is not None and stored.status == AppointmentStatus.NO_SHOW
    await check_page(page)

    today = clinic_today(live_app)
    last = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    await page.goto(f"/console/appointments/list?from={today:%Y-%m}-01&to={last:%Y-%m-%d}&status=not_cancelled")
    await expect(page.locator("#list-total")).to_have_text("2 appointments found.")
    await check_page(page)

    await page.goto("/console/appointments")
    await page.get_by_role("link", name="Book for a caller").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Book for a caller")
    await check_page(page)
    day = await choose_day(page, not_before=today + timedelta(days=1))
    at = (await offered_times(page))[0]
    await pick_time(page, at)
    await page.get_by_label("Patient's full name").fill("Carl Caller")
    await page.get_by_label("Patient's email address").fill("carl@example.com")
    await page.get_by_role("button", name="Book appointment").click()

    await expect(page.locator("#done-notice")).to_contain_text("The appointment is booked")
    assert f"date={day.isoformat()}" in page.url
    booked = await live_app.container.repos.patients.get_by_email("carl@example.com")
    assert booked is not None
    items, total = await live_app.container.repos.appointments.page(
        start_from=None, start_to=None, status=None, patient_ids=[booked.id], skip=0, limit=5
    )
    assert total == 1 and items[0].start.astimezone(live_app.settings.zone).strftime("%H:%M") == at
    await expect(page.locator(f"#appointment-{items[0].id}")).to_contain_text("Carl Caller")
    await check_page(page)

    await page.goto("/console/appointments/sms")
    await expect(page.locator("#sms-not-ready")).to_be_visible()
    await check_page(page)
