"""The console's guards in a real browser: admin-only pages refuse staff, a form without its CSRF token is refused."""

from __future__ import annotations

from playwright.async_api import Page, expect

from models.enums import Role
from tests.browser.conftest import LiveApp
from tests.browser.console import sign_in
from tests.browser.support import assert_accessible, assert_fits_width


async def test_staff_get_the_not_allowed_page_on_admin_pages_and_admins_get_the_page(
    page: Page, live_app: LiveApp
) -> None:
    await sign_in(page, live_app, "nurse@clinic.test", role=Role.STAFF)

    response = await page.goto("/console/audit")

    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    await expect(page.locator("#audit-table")).to_have_count(0)
    await assert_accessible(page)
    await assert_fits_width(page)

    await page.context.clear_cookies()
    await sign_in(page, live_app, "boss@clinic.test", role=Role.ADMIN)
    response = await page.goto("/console/audit")
    assert response is not None and response.status == 200
    await expect(page.locator("#audit-table")).to_be_visible()
    await expect(page.locator("#audit-table")).to_contain_text("console.login")


async def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    page: Page, live_app: LiveApp
) -> None:
    await sign_in(page, live_app, "nurse@clinic.test")
    # A forged form: the page's own sign-out form with its token taken out.
    await page.locator(".logout-form input[name=csrf_token]").evaluate("input => input.remove()")

    async with page.expect_navigation() as navigation:
        await page.get_by_role("button", name="Sign out").click()

    response = await navigation.value
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    await assert_accessible(page)
    assert await live_app.container.repos.console_sessions.count() == 1  # still signed in
    await page.goto("/console")
    await expect(page.locator("#staff-email")).to_have_text("nurse@clinic.test")
