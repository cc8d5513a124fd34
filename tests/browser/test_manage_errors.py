"""What a patient sees when a link is wrong, or when the visit is too close to change online."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from core.clock import FixedClock, SystemClock
from domain.booking import BookingRequest
from tests.browser.conftest import LiveApp
from tests.browser.patient import CLINIC, check_page, clinic_today

BAD_LINKS = (
    "/manage/not-a-real-link",  # the shape of a token, but no signature
    "/manage/" + "a" * 40 + "." + "b" * 43,  # a forged one
    "/manage/%3Cscript%3E",  # not even a token's shape
    "/unsubscribe/not-a-real-link",
)


@pytest.fixture
def clock() -> FixedClock:
    """The app's clock, shared by the server and `live_app.container`; starts now and moves when told."""
    return FixedClock(SystemClock().now())


@pytest.fixture
def live_app_overrides(clock: FixedClock) -> dict[str, Any]:
    """The branded clinic on the test's clock."""
    return {**CLINIC, "clock": clock}


async def expect_clinic_phone(page: Page) -> None:
    """The main content offers the clinic's phone as a link to call."""
    phone = CLINIC["CLINIC_PHONE"]
    link = page.get_by_role("main").get_by_role("link", name=phone)
    await expect(link).to_have_attribute("href", "tel:" + re.sub(r"[^+\d]", "", phone))


@pytest.mark.parametrize("path", BAD_LINKS)
async def test_a_bad_link_is_a_friendly_page_with_the_clinic_phone(page: Page, path: str) -> None:
    response = await page.goto(path)
    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")
    await expect(page.get_by_role("alert")).to_contain_text("invalid or has expired")
    await expect_clinic_phone(page)
    await expect(page.get_by_role("link", name="Go to the booking page")).to_have_attribute("href", "/book")
    await check_page(page)


def bookable_day(today: date) -> date:
    """A working day (Monday to Saturday) at least three days ahead."""
    day = today + timedelta(days=3)
    return day if day.weekday() < 6 else day + timedelta(days=1)


async def test_inside_the_notice_window_the_pages_say_to_call_instead_of_offering_buttons(
    page: Page, live_app: LiveApp, clock: FixedClock
) -> None:
    live = live_app
    day = bookable_day(clinic_today(live))
    booked = await live.container.booking().book(
        BookingRequest(
            name="Ann Lee",
            email="ann@example.com",
            phone=None,
            day=day,
            at=time(9, 0),
            duration_minutes=None,
            service="Check-up",
        ),
        ip=None,
    )
    manage = f"/manage/{booked.manage_token}"
    # Outside the window the buttons are there...
    await page.goto(manage)
    await expect(page.get_by_role("link", name="Cancel appointment")).to_be_visible()
    await expect(page.locator("#too-late")).to_have_count(0)

    # ...and from CANCEL_MIN_NOTICE_HOURS before the visit on, only the phone.
    start = booked.appointment.start
    clock.set(start - timedelta(hours=live.settings.CANCEL_MIN_NOTICE_HOURS) + timedelta(minutes=1))
    for path, heading in (
        (manage, "Your appointment"),
        (f"{manage}/cancel", "Cancel your appointment?"),
        (f"{manage}/reschedule", "Choose a new time"),
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 200
        await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        too_late = page.locator("#too-late")
        await expect(too_late).to_contain_text(
            f"less than {live.settings.CANCEL_MIN_NOTICE_HOURS} hours away, so it can no longer be changed online"
        )
        await expect(too_late.get_by_role("link", name=CLINIC["CLINIC_PHONE"])).to_be_visible()
        await expect(page.locator("#cancel-link, #reschedule-link, #confirm-cancel, #move-button")).to_have_count(0)
        await expect(page.get_by_role("button")).to_have_count(0)
        await check_page(page)
    stored = await live.container.booking().by_token(booked.manage_token)
    assert stored.status == "booked"
