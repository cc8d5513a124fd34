"""Helpers for the console's browser tests: a staff account, signed in through the real sign-in form."""

from __future__ import annotations

from playwright.async_api import Page, expect

from core.security import hash_password
from models.enums import Role
from tests.browser.conftest import LiveApp

PASSWORD = "correct horse battery"


async def sign_in(page: Page, live_app: LiveApp, email: str = "staff@clinic.test", *, role: Role = Role.STAFF) -> None:
    """Create the account and sign in with the form; ends on the dashboard."""
    container = live_app.container
    await container.repos.users.create_or_reset(
        email=email, password_hash=hash_password(PASSWORD), role=role, now=container.clock.now()
    )
    await page.goto("/console/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(live_app.link("/console"))
