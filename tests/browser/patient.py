"""What a patient does on the booking pages, step by step, and the checks every visited page must pass."""

from __future__ import annotations

import asyncio
import re
import time as monotonic_time
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar
from playwright.async_api import Page, expect

from tests.browser.conftest import LiveApp
from tests.browser.support import assert_accessible, assert_fits_width

# Branding the pages show (the phone is what every error page must offer) and outreach allowed at any hour.
CLINIC: dict[str, Any] = {
    "CLINIC_NAME": "Bright Smiles",
    "CLINIC_PHONE": "+1-555-000-1234",
    "CLINIC_ADDRESS": "1 Harbour Road, Springfield",
    "QUIET_HOURS_START": "00:00",
    "QUIET_HOURS_END": "00:00",
}
WAIT_SECONDS = 10.0  # only bounds a wait for something that never happens


async def check_page(page: Page) -> None:
    """axe finds no WCAG 2.1 A/AA violation, and the page fits its viewport's width (no sideways scrolling)."""
    await assert_accessible(page)
    await assert_fits_width(page)


def clinic_today(live: LiveApp) -> date:
    """Today in the clinic's timezone, by the app's clock."""
    return live.container.clock.now().astimezone(live.settings.zone).date()


def long_date(day: date) -> str:
    """A date as the pages write it: 'Tuesday 8 December 2026'."""
    return f"{day:%A} {day.day} {day:%B} {day.year}"


async def free_days(page: Page) -> list[date]:
    """The days the calendar offers (links), in order."""
    ids: list[str] = await page.locator("#calendar-table a.day").evaluate_all("links => links.map(a => a.id)")
    return sorted(date.fromisoformat(i.removeprefix("day-")) for i in ids)


async def choose_day(page: Page, *, not_before: date) -> date:
    """Open the first free day on or after `not_before`, going to later months when this one has none."""
    for _ in range(4):
        later = [d for d in await free_days(page) if d >= not_before]
        if later:
            day = later[0]
            link = page.locator(f"#day-{day.isoformat()}")
            # A screen reader hears the whole date and how many times are free, not just the day's number.
            await expect(link).to_have_accessible_name(re.compile(rf"^{day:%A} {day.day} {day:%B}, \d+ times? free$"))
            await link.click()
            await expect(page.locator(f"#day-{day.isoformat()}")).to_have_attribute("aria-current", "true")
            await expect(page.get_by_role("group", name=re.compile(f"^Free times on {long_date(day)}"))).to_be_visible()
            return day
        await page.locator("#next-month").click()
    raise AssertionError(f"no free day on or after {not_before} within four months")


async def offered_times(page: Page) -> list[str]:
    """The times offered for the chosen day ('HH:MM')."""
    values: list[str] = await page.locator("input[name=time]").evaluate_all("inputs => inputs.map(i => i.value)")
    return values


async def pick_time(page: Page, at: str) -> None:
    """Choose a time the way a patient does: its label is the button (the radio itself is visually hidden)."""
    await page.locator(f"label[for=slot-{at.replace(':', '')}]").click()
    await expect(page.get_by_role("radio", name=at, exact=True)).to_be_checked()


async def fill_details(page: Page, *, name: str, email: str) -> None:
    """Type the patient's name and email."""
    await page.get_by_label("Full name").fill(name)
    await page.get_by_label("Email address").fill(email)


def ics_event(data: bytes | str) -> tuple[datetime, datetime, str]:
    """The one VEVENT of an .ics file: its start and end (aware) and its start's TZID."""
    [event] = Calendar.from_ical(data).events
    assert isinstance(event.start, datetime) and isinstance(event.end, datetime)
    return event.start, event.end, str(event["DTSTART"].params.get("TZID", ""))


def assert_ics_at(data: bytes | str, *, zone: ZoneInfo, day: date, at: str, minutes: int) -> None:
    """The calendar file's event starts at `at` on `day` in the clinic's timezone (named in it) and lasts `minutes`."""
    start, end, tzid = ics_event(data)
    assert tzid == zone.key
    assert start.tzinfo is not None
    expected = datetime.combine(day, time.fromisoformat(at), tzinfo=zone)
    assert start == expected and start.astimezone(zone).strftime("%H:%M") == at
    assert end - start == timedelta(minutes=minutes)


def ics_attachment(message: EmailMessage) -> bytes:
    """The appointment.ics attached to an email."""
    [part] = [p for p in message.iter_attachments() if p.get_filename() == "appointment.ics"]
    assert part.get_content_type() == "text/calendar"
    content = part.get_content()
    return content.encode() if isinstance(content, str) else bytes(content)


async def background_done(live: LiveApp) -> None:
    """Wait until the server has no background work left (confirmation emails are sent after the response)."""
    tasks = live.app.state.container.background
    deadline = monotonic_time.monotonic() + WAIT_SECONDS
    while tasks:
        assert monotonic_time.monotonic() < deadline, "the server's background work did not finish"
        await asyncio.sleep(0.02)
