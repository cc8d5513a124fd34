"""The development loop in a real browser, with no SMTP: a campaign started in the console, its email in the outbox,
its booking link, the booking, the confirmation in the outbox, and the dashboard counting the appointment.

The app runs on a live uvicorn over SecantusDB in development with no SMTP_HOST; the outreach is run by the worker's
use case from the test (a second container over the same database, as a separate worker process is). Every outbox
page passes axe (WCAG 2.1 A/AA) and fits the viewport's width, at phone and desktop size.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest_asyncio
from playwright.async_api import Page, expect

from core.clock import FixedClock
from models.enums import Role
from tests.browser.conftest import LiveApp
from tests.browser.console import sign_in
from tests.browser.patient import CLINIC, check_page, choose_day, clinic_today, offered_times, pick_time

# Monday 9 December 2030, 10:00 in Berlin: the booking lands in this month, so the month's KPI counts it.
MONDAY = datetime(2030, 12, 9, 9, 0, tzinfo=UTC)
PATIENT = {"name": "Ann Lee", "email": "ann.lee@example.com"}
BOOKED_KPI = "#kpi-booked_appointments_this_month-value"


async def booked_this_month(page: Page) -> int:
    """The dashboard's "appointments this month" figure."""
    await page.goto("/console")
    return int((await page.locator(BOOKED_KPI).inner_text()).replace(",", ""))


@pytest_asyncio.fixture(loop_scope="session")
async def live_app(make_live_app: Callable[..., Awaitable[LiveApp]]) -> LiveApp:
    """The app in development without SMTP, on a fixed Monday, with a dashboard snapshot at most 0.2 s old."""
    return await make_live_app(
        clock=FixedClock(MONDAY),
        ENVIRONMENT="development",
        SMTP_HOST="",  # no mail relay: the outbox keeps every email
        DASHBOARD_MAX_AGE_SECONDS=0.2,
        DASHBOARD_KEEP_FRESH_SECONDS=0,
        **CLINIC,
    )


async def booked_becomes(page: Page, wanted: int) -> None:
    """The dashboard reaches `wanted` (the booking marked its snapshot stale; a reload gets the recomputation)."""
    for _ in range(50):
        if await booked_this_month(page) == wanted:
            return
        await page.wait_for_timeout(100)
    await expect(page.locator(BOOKED_KPI)).to_have_text(str(wanted))


async def test_trigger_outbox_booking_link_book_confirmation_and_dashboard(page: Page, live_app: LiveApp) -> None:
    live = live_app
    await sign_in(page, live, role=Role.ADMIN)
    before = await booked_this_month(page)
    await expect(page.locator("#nav-outbox")).to_be_visible()

    # Staff start a campaign for a new patient in the console; the worker runs its first attempt.
    await page.goto("/console/campaigns/new")
    await page.get_by_label("Name").fill(PATIENT["name"])
    await page.get_by_label("Email").fill(PATIENT["email"])
    await page.get_by_label("Recovery").check()
    await page.get_by_role("button", name="Start campaign").click()
    await expect(page.locator("#campaign-status")).to_have_text("Contacting (recovery)")
    [run] = await live.container.outreach().run_due(limit=10)
    assert run.channel is not None and run.channel.value == "email"
    assert live.smtp.messages == []  # nothing left the host

    # The outbox lists it; its page shows the text with the booking link.
    await page.locator("#nav-outbox").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Outbox")
    await expect(page.locator("#outbox-table tbody tr")).to_have_count(1)
    await expect(page.locator("#outbox-table tbody tr").first).to_contain_text(PATIENT["email"])
    await expect(page.locator("#outbox-table tbody tr").first).to_contain_text("outreach")
    await check_page(page)
    await page.locator("#outbox-table tbody a").first.click()
    await expect(page.locator("#message-to")).to_have_text(PATIENT["email"])
    await expect(page.locator("#message-id")).to_have_text(re.compile(r"^<.+@.+>$"))
    await check_page(page)
    booking_link = page.locator("#message-text a", has_text=live.url + "/book?c=")
    await booking_link.first.click()

    # The booking page for this patient's campaign: book the first free time from tomorrow.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Book an appointment")
    await expect(page.get_by_label("Full name")).to_have_value(PATIENT["name"])
    await expect(page.get_by_label("Email address")).to_have_value(PATIENT["email"])
    day = await choose_day(page, not_before=clinic_today(live) + timedelta(days=1))
    assert day.month == 12
    await pick_time(page, (await offered_times(page))[0])
    await page.get_by_role("button", name="Book appointment").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your appointment is booked")

    # The confirmation (sent after the response) appears in the outbox with its .ics.
    await page.goto("/console/outbox")
    rows = page.locator("#outbox-table tbody tr")
    for _ in range(50):
        if await rows.count() == 2:
            break
        await page.wait_for_timeout(100)
        await page.reload()
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("confirmation")
    await check_page(page)
    await rows.first.locator("a").click()
    await expect(page.locator("#message-kind")).to_have_text("confirmation")
    await expect(page.locator("#attachment-0")).to_have_text("appointment.ics")
    await expect(page.locator("#message-text a", has_text=live.url + "/manage/")).to_be_visible()
    await check_page(page)
    async with page.expect_download() as downloading:
        await page.locator("#attachment-0").click()
    assert (await downloading.value).suggested_filename == "appointment.ics"

    # The dashboard counts the new appointment.
    await booked_becomes(page, before + 1)
