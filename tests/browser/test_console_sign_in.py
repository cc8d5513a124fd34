"""A staff member signs in to the console in a real browser, sees the dashboard skeleton and signs out."""

from __future__ import annotations

from playwright.async_api import Page, expect

from core.security import hash_password
from models.enums import Role
from tests.browser.conftest import LiveApp
from tests.browser.support import assert_accessible, assert_fits_width

PASSWORD = "correct horse battery"


async def test_staff_sign_in_see_the_dashboard_and_sign_out(page: Page, live_app: LiveApp) -> None:
    container = live_app.container
    await container.repos.users.create_or_reset(
        email="nurse@clinic.test", password_hash=hash_password(PASSWORD), role=Role.STAFF, now=container.clock.now()
    )

    response = await page.goto("/console")
    assert response is not None and response.status == 200
    await expect(page).to_have_url(live_app.link("/console/login"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the staff console")
    await assert_accessible(page)
    await assert_fits_width(page)

    await page.get_by_label("Email").fill("nurse@clinic.test")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()

    await expect(page).to_have_url(live_app.link("/console"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    await expect(page.locator("#staff-email")).to_have_text("nurse@clinic.test")
    nav = page.get_by_role("navigation", name="Console")
    await expect(nav.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    await expect(nav.get_by_role("link", name="Audit")).to_have_count(0)
    await assert_accessible(page)
    await assert_fits_width(page)
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["mc_session"]["httpOnly"] and cookies["mc_session"]["sameSite"] == "Strict"

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(live_app.link("/console/login"))
    assert await container.repos.console_sessions.count() == 0
    await page.goto("/console")
    await expect(page).to_have_url(live_app.link("/console/login"))
