"""The console's dashboard in Chromium on the demo data: the API's numbers, the KPI links, the charts, accessible."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from scripts.seed_demo import seed
from tests.browser.conftest import LiveApp
from tests.browser.console import sign_in
from tests.browser.support import assert_accessible, assert_fits_width
from tests.web.dashboard import KPIS, api_stats, assert_same_numbers, read_dashboard
from tests.web.pages import CSP
from web.dashboard import kpi_links

# Each chart's accessible name, and its table's caption.
CHARTS = (
    (
        "Line chart of recovery and recall campaigns started and converted per month, last 12 months",
        "Campaigns over the last 12 months: the numbers",
    ),
    (
        "Stacked bar chart of appointments per month by status, last 12 months",
        "Appointments over the last 12 months: the numbers",
    ),
    ("Bar chart of all campaigns by state", "All campaigns by state: the numbers"),
)
FIRST_SERIES_FILL = "rgb(11, 83, 148)"  # the charts' first colour, set only by /static/charts.css


@pytest.fixture
def live_app_overrides() -> dict[str, Any]:
    """A snapshot that stays put while the test compares the page with the API."""
    return {"DASHBOARD_MAX_AGE_SECONDS": 600}


async def test_the_dashboard_shows_what_the_api_says(page: Page, live_app: LiveApp) -> None:
    await seed(live_app.container, patients=80, progress=False)
    await sign_in(page, live_app)

    response = await page.goto("/console")
    stats = await api_stats(live_app.http)

    assert response is not None and response.status == 200 and response.headers["content-security-policy"] == CSP
    assert_same_numbers(read_dashboard(await page.content()), stats)
    assert sum(stats["kpis"].values()) > 10
    links = kpi_links(live_app.container.clock.now(), live_app.settings.zone)
    for key in KPIS:
        await expect(page.locator(f"#kpi-{key}")).to_have_attribute("href", links[key])
    inline = "() => document.querySelectorAll('style, script, [style]').length"
    assert await page.evaluate(inline) == 0
    width = (page.viewport_size or {"width": 0})["width"]
    for label, caption in CHARTS:
        chart = page.get_by_role("img", name=label, exact=True)
        await expect(chart).to_be_visible()
        box = await chart.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (label, box)
        await expect(page.get_by_role("table", name=caption, exact=True)).to_be_visible()
    fill = "() => getComputedStyle(document.querySelector('#chart-performance .color-0')).fill"
    assert await page.evaluate(fill) == FIRST_SERIES_FILL
    await assert_accessible(page)
    await assert_fits_width(page)
