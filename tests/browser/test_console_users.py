"""An admin in a real browser creates a staff user, who signs in in another browser; the admin deactivates them and
their next page load goes to sign-in; the audit log filtered by that actor; axe and no sideways scroll at both sizes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from models.enums import Role
from tests.browser.conftest import LiveApp, WatchedPage
from tests.browser.console import sign_in
from tests.browser.support import assert_accessible, assert_fits_width

NEW_USER = "new.nurse@clinic.test"


async def checked(page: Page) -> None:
    """axe finds nothing and the page fits the viewport's width."""
    await assert_accessible(page)
    await assert_fits_width(page)


async def test_admin_creates_a_user_who_signs_in_then_is_deactivated_and_signed_out(
    page: Page, live_app: LiveApp, new_page: Callable[..., Awaitable[WatchedPage]], viewport: str
) -> None:
    await sign_in(page, live_app, "boss@clinic.test", role=Role.ADMIN)
    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Users").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    await checked(page)

    await page.get_by_role("link", name="New user").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("New user")
    await checked(page)
    await page.get_by_label("Email").fill(NEW_USER)
    await page.get_by_label("Staff").check()
    await page.get_by_label("Generate a password").check()
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Account created: {NEW_USER}")
    password = (await page.locator("#generated-password").inner_text()).strip()
    assert len(password) >= 12
    await checked(page)

    # The new user signs in in a browser of their own.
    theirs = (await new_page(viewport)).page
    await theirs.goto("/console/login")
    await theirs.get_by_label("Email").fill(NEW_USER)
    await theirs.get_by_label("Password").fill(password)
    await theirs.get_by_role("button", name="Sign in").click()
    await expect(theirs).to_have_url(live_app.link("/console"))
    await expect(theirs.locator("#staff-email")).to_have_text(NEW_USER)

    await page.get_by_role("link", name="Done, go to the user").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"User {NEW_USER}")
    await checked(page)
    await page.get_by_role("link", name="Deactivate…").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Deactivate {NEW_USER}?")
    await checked(page)
    await page.get_by_role("button", name="Yes, deactivate the account").click()
    await expect(page.locator("#notice")).to_contain_text("deactivated")
    await expect(page.locator("#user-status")).to_have_text("Deactivated")
    await checked(page)

    # Their next page load goes to sign-in, and signing in again fails.
    await theirs.goto("/console/campaigns")
    await expect(theirs).to_have_url(live_app.link("/console/login?next=/console/campaigns"))
    await theirs.get_by_label("Email").fill(NEW_USER)
    await theirs.get_by_label("Password").fill(password)
    await theirs.get_by_role("button", name="Sign in").click()
    await expect(theirs.locator("#form-message")).to_contain_text("Incorrect email or password")

    # The audit log, filtered by the new user's actions.
    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Audit").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    await checked(page)
    await page.get_by_label("Who (email)").fill(NEW_USER)
    await page.get_by_role("button", name="Apply filters").click()
    assert "actor=new.nurse%40clinic.test" in page.url
    rows = page.locator("#audit-table tbody tr")
    await expect(rows).to_have_count(2)  # their sign-in, then the refused one, newest first
    await expect(rows.nth(0)).to_contain_text("failure")
    await expect(rows.nth(1)).to_contain_text("console.login")
    await expect(page.get_by_label("Who (email)")).to_have_value(NEW_USER)
    await checked(page)

    await page.get_by_role("link", name="Clear filters").click()
    await page.get_by_label("Action").fill("users.*")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("users.deactivate")
    await expect(rows.nth(1)).to_contain_text("users.create")
    await checked(page)
