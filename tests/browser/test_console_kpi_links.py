"""Each dashboard KPI, clicked in Chromium on the demo data, opens a list whose total is the KPI's number."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from scripts.seed_demo import seed
from tests.browser.conftest import LiveApp
from tests.browser.console import sign_in
from tests.browser.support import assert_accessible
from tests.web.dashboard import KPIS

HEADINGS = {
    "active_recovery": "Campaigns",
    "active_recall": "Campaigns",
    "engaged_leads": "Campaigns",
    "handoffs": "Handoffs",
    "recoveries_this_month": "Campaigns",
    "booked_appointments_this_month": "Search appointments",
}


@pytest.fixture
def live_app_overrides() -> dict[str, Any]:
    """A snapshot that stays put while the test clicks through."""
    return {"DASHBOARD_MAX_AGE_SECONDS": 600}


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
async def test_every_kpi_link_opens_the_list_it_counts(page: Page, live_app: LiveApp) -> None:
    await seed(live_app.container, patients=80, progress=False)
    await sign_in(page, live_app)
    shown = {key: await page.locator(f"#kpi-{key}-value").inner_text() for key in KPIS}
    assert sum(int(v.replace(",", "")) for v in shown.values()) > 10

    for key in KPIS:
        await page.goto("/console")
        await page.locator(f"#kpi-{key}").click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text(HEADINGS[key])
        await expect(page.locator("#total-count")).to_have_text(shown[key], timeout=2_000)
    await assert_accessible(page)
