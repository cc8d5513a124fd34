"""A patient's whole journey in a real browser: from the outreach email to booked, moved and cancelled.

The app runs on a live uvicorn over SecantusDB and sends through SMTP to aiosmtpd; the outreach is triggered by
staff through the API, and everything after that is what the patient clicks. Every page visited passes axe
(WCAG 2.1 A/AA) and fits the viewport's width, at phone (390x844) and desktop (1280x800) size.
"""

from __future__ import annotations

import asyncio
import re
import time as monotonic_time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Page, expect

from models.enums import AppointmentStatus, CampaignStatus
from tests.browser.conftest import LiveApp, WatchedPage
from tests.browser.patient import (
    CLINIC,
    WAIT_SECONDS,
    assert_ics_at,
    background_done,
    check_page,
    choose_day,
    clinic_today,
    fill_details,
    ics_attachment,
    long_date,
    offered_times,
    pick_time,
)
from tests.browser.support import assert_fits_width, email_links
from tests.support import staff_headers

PATIENT = {"name": "Ann Lee", "email": "ann.lee@example.com"}
DASHBOARD = "/api/v1/admin/dashboard-stats"
# Cancelling and moving online need CANCEL_MIN_NOTICE_HOURS (24 h): a day two days ahead is always far enough.
DAYS_AHEAD = 2


@pytest.fixture
def live_app_overrides() -> dict[str, Any]:
    """Branded pages, outreach at any hour, and a dashboard snapshot that may be at most 0.2 s old."""
    return {**CLINIC, "DASHBOARD_MAX_AGE_SECONDS": 0.2, "DASHBOARD_KEEP_FRESH_SECONDS": 0}


async def dashboard(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """The staff dashboard."""
    response = await http.get(DASHBOARD, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def conversions(stats: dict[str, Any]) -> tuple[int, int, int]:
    """Recoveries this month, recovered campaigns, and RECOVERY campaigns still active, as the dashboard counts."""
    return (
        stats["kpis"]["recoveries_this_month"],
        stats["charts"]["campaign_breakdown"]["recovered"],
        stats["kpis"]["active_recovery"],
    )


async def dashboard_shows(http: httpx.AsyncClient, headers: dict[str, str], wanted: tuple[int, int, int]) -> None:
    """The dashboard reaches `wanted` (a write marks its snapshot stale; the next requests get the recomputation)."""
    deadline = monotonic_time.monotonic() + WAIT_SECONDS
    while (seen := conversions(await dashboard(http, headers))) != wanted:
        assert monotonic_time.monotonic() < deadline, f"dashboard shows {seen}, not {wanted}"
        await asyncio.sleep(0.1)


def end_of(at: str, minutes: int) -> str:
    """'09:00' + 30 minutes → '09:30'."""
    hours, mins = divmod(int(at[:2]) * 60 + int(at[3:]) + minutes, 60)
    return f"{hours:02d}:{mins:02d}"


async def test_outreach_email_to_booked_then_moved_then_cancelled(page: Page, live_app: LiveApp) -> None:
    live = live_app
    zone = live.settings.zone
    staff = await staff_headers(live.http, live.container)
    assert conversions(await dashboard(live.http, staff)) == (0, 0, 0)

    # Staff start a recovery campaign; its first email goes out at once.
    trigger = await live.http.post(
        "/agent/trigger", json={"patient": PATIENT, "campaign": {"campaign_type": "RECOVERY"}}, headers=staff
    )
    assert trigger.status_code == 200, trigger.text
    campaign_id = trigger.json()["campaign_id"]
    [outreach] = await live.smtp.arrival(1)
    assert outreach["To"] == PATIENT["email"]
    await dashboard_shows(live.http, staff, (0, 0, 1))
    [link] = [url for url in email_links(outreach) if urlsplit(url).path == "/book"]
    assert link.startswith(live.url + "/book?") and parse_qs(urlsplit(link).query).keys() == {"c"}
    assert PATIENT["email"] not in link and "Ann" not in link  # the token carries no PHI

    # The email's link: the booking page, with the patient's name and email filled in.
    response = await page.goto(link)
    assert response is not None and response.status == 200
    await expect(page.get_by_role("heading", level=1)).to_have_text("Book an appointment")
    await expect(page).to_have_title(f"Book an appointment \N{EN DASH} {CLINIC['CLINIC_NAME']}")
    await expect(page.get_by_label("Full name")).to_have_value(PATIENT["name"])
    await expect(page.get_by_label("Email address")).to_have_value(PATIENT["email"])
    await expect(page.get_by_text(f"times in {zone.key}")).to_be_visible()
    await check_page(page)

    day = await choose_day(page, not_before=clinic_today(live) + timedelta(days=DAYS_AHEAD))
    assert "c=" in page.url  # the day's link keeps the campaign
    await expect(page.get_by_label("Full name")).to_have_value(PATIENT["name"])
    await check_page(page)
    times = await offered_times(page)
    assert len(times) >= 2
    booked_at, moved_to = times[0], times[-1]

    # A slip first: no time picked and a broken email. The errors sit at their fields, the input stays.
    await page.get_by_label("Email address").fill("ann.lee@")
    await page.get_by_role("button", name="Book appointment").click()
    await expect(page.get_by_role("alert")).to_contain_text("Please check the form")
    await expect(page.locator("#time-error")).to_have_text("Please choose a time.")
    await expect(page.locator("#email-error")).to_contain_text("valid email address")
    await expect(page.get_by_label("Email address")).to_have_value("ann.lee@")
    await expect(page.get_by_label("Full name")).to_have_value(PATIENT["name"])
    await expect(page.locator(f"#day-{day.isoformat()}")).to_have_attribute("aria-current", "true")
    await check_page(page)
    await page.get_by_label("Email address").fill(PATIENT["email"])
    await pick_time(page, booked_at)
    await page.get_by_role("button", name="Book appointment").click()

    # The confirmation page.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your appointment is booked")
    match = re.fullmatch(re.escape(live.url) + r"/manage/([A-Za-z0-9_.-]+)\?booked=1", page.url)
    assert match, page.url
    token = match.group(1)
    manage_url = f"{live.url}/manage/{token}"
    await expect(page.locator("#confirmation")).to_be_visible()
    await expect(page.locator("#detail-date")).to_have_text(long_date(day))
    await expect(page.locator("#detail-time")).to_have_text(
        f"{booked_at}\N{EN DASH}{end_of(booked_at, 30)} ({zone.key})"
    )
    await expect(page.locator("#detail-service")).to_have_text("Check-up (30 minutes)")
    await expect(page.locator("#detail-doctor")).to_have_text(live.settings.CONSULTING_DOCTOR)
    await expect(page.locator("#detail-status")).to_have_text("Booked")
    await expect(page.get_by_role("link", name=manage_url)).to_have_attribute("href", manage_url)
    await check_page(page)
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name=re.compile("^Add to calendar")).click()
    download = await downloading.value
    assert download.suggested_filename == "appointment.ics"
    ics = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert_ics_at(ics, zone=zone, day=day, at=booked_at, minutes=30)

    # Exactly that campaign converted, and the dashboard counts it.
    campaign = await live.container.repos.campaigns.get(campaign_id)
    assert campaign is not None and campaign.status == CampaignStatus.BOOKING_COMPLETED
    assert campaign.converted_at is not None
    appointment = await live.container.booking().by_token(token)
    assert appointment.campaign_id == campaign_id and appointment.status == AppointmentStatus.BOOKED
    await dashboard_shows(live.http, staff, (1, 1, 0))
    stats = await dashboard(live.http, staff)
    assert stats["rates"]["recovery"]["month"] == 1.0

    # The confirmation email: the visit as an .ics attachment, and the manage link.
    confirmation = (await live.smtp.arrival(2))[1]
    assert confirmation["To"] == PATIENT["email"]
    assert_ics_at(ics_attachment(confirmation), zone=zone, day=day, at=booked_at, minutes=30)
    assert manage_url in email_links(confirmation)

    # The manage link → reschedule to another time the same day.
    response = await page.goto(manage_url)
    assert response is not None and response.status == 200
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your appointment")
    await check_page(page)
    await page.get_by_role("link", name="Reschedule").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new time")
    await expect(page.locator("#current-time")).to_contain_text(f"{long_date(day)} at {booked_at}")
    await check_page(page)
    assert await choose_day(page, not_before=day) == day
    assert booked_at not in await offered_times(page)  # its own time is not offered as a move
    await pick_time(page, moved_to)
    await page.get_by_role("button", name="Move my appointment").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your appointment is moved")
    await expect(page.locator("#detail-time")).to_have_text(f"{moved_to}\N{EN DASH}{end_of(moved_to, 30)} ({zone.key})")
    await expect(page.locator("#detail-date")).to_have_text(long_date(day))
    assert page.url == manage_url + "?moved=1"
    await check_page(page)
    moved_email = (await live.smtp.arrival(3))[2]
    assert_ics_at(ics_attachment(moved_email), zone=zone, day=day, at=moved_to, minutes=30)

    # Cancel, with the confirm step.
    await page.get_by_role("link", name="Cancel appointment").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Cancel your appointment?")
    await check_page(page)
    await page.get_by_role("button", name="Yes, cancel my appointment").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your appointment is cancelled")
    await expect(page.locator("#detail-status")).to_have_text("Cancelled")
    await expect(page.locator("#cancel-link, #reschedule-link, #add-to-calendar")).to_have_count(0)
    await check_page(page)
    stored = await live.container.booking().by_token(token)
    assert stored.status == AppointmentStatus.CANCELLED
    assert await live.container.repos.slot_claims.count() == 0
    await background_done(live)
    assert len(live.smtp.messages) == 3  # outreach, booked, moved


async def assert_scripts_do_not_run(page: Page) -> None:
    """The page's own scripts are off: a script element added to it does not run (Playwright's evaluate still does;
    timers do not fire, so nothing here may wait on one)."""
    ran = await page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "document.documentElement.dataset.scriptRan = 'yes'";
            document.body.append(script);  // an inline script runs as it is inserted, when scripts may run
            return document.documentElement.dataset.scriptRan ?? "no";
        }"""
    )
    assert ran == "no"


async def test_booking_moving_and_cancelling_work_without_javascript(
    new_page: Any, live_app: LiveApp, viewport: str
) -> None:
    live = live_app
    opened: WatchedPage = await new_page(viewport, java_script_enabled=False)
    page = opened.page
    response = await page.goto("/book")
    assert response is not None and response.status == 200
    await assert_scripts_do_not_run(page)
    # axe itself needs timers, which do not run here; the journey above checks these pages with axe.
    await assert_fits_width(page)
    day = await choose_day(page, not_before=clinic_today(live) + timedelta(days=DAYS_AHEAD))
    booked_at, moved_to = (await offered_times(page))[0], (await offered_times(page))[-1]
    await pick_time(page, booked_at)
    await fill_details(page, name="Bo Script", email="bo@example.com")
    await page.get_by_role("button", name="Book appointment").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your appointment is booked")
    await expect(page.locator("#detail-time")).to_contain_text(booked_at)

    await page.get_by_role("link", name="Reschedule").click()
    assert await choose_day(page, not_before=day) == day
    await pick_time(page, moved_to)
    await page.get_by_role("button", name="Move my appointment").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your appointment is moved")
    await expect(page.locator("#detail-time")).to_contain_text(moved_to)

    await page.get_by_role("link", name="Cancel appointment").click()
    await page.get_by_role("button", name="Yes, cancel my appointment").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your appointment is cancelled")
    assert not any(r.endswith(".js") for r in opened.watch.requests)
