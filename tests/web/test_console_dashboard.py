"""The console's dashboard page: signed in only, the API's numbers on demo data, KPI links, the charts under the CSP."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx

from core.container import Container
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType
from scripts.seed_demo import seed
from tests.web.conftest import Clinic
from tests.web.console import signed_in
from tests.web.dashboard import KPIS, WINDOWS, Dashboard, api_stats, assert_same_numbers, read_dashboard
from tests.web.pages import html_page
from web.charts import STYLESHEET, stylesheet
from web.dashboard import kpi_links

# The clinic fixture's clock is Monday 2 December 2030, 08:00 in Berlin.
DECEMBER_LINKS = {
    "active_recovery": "/console/campaigns?type=RECOVERY&status=active",
    "active_recall": "/console/campaigns?type=RECALL&status=active",
    "engaged_leads": "/console/campaigns?status=ENGAGED",
    "handoffs": "/console/handoffs",
    "recoveries_this_month": (
        "/console/campaigns?type=RECOVERY&status=BOOKING_COMPLETED&converted_from=2030-12-01&converted_to=2030-12-31"
    ),
    "booked_appointments_this_month": "/console/appointments/list?from=2030-12-01&to=2030-12-31&status=not_cancelled",
}


async def get_dashboard(http: httpx.AsyncClient) -> tuple[Dashboard, str]:
    """GET /console as a checked page (CSP, nothing inline, nothing external), read, and its HTML."""
    page = html_page(await http.get("/console"), 200)
    return read_dashboard(page.html), page.html


# ---- access -----------------------------------------------------------------------------------------------------


async def test_the_dashboard_needs_a_signed_in_staff_member(clinic: Clinic) -> None:
    response = await clinic.http.get("/console")
    assert response.status_code == 303 and response.headers["location"] == "/console/login"

    await signed_in(clinic.http, clinic.container)
    page, _ = await get_dashboard(clinic.http)
    assert page.text("kpi-heading") == "Key figures"


# ---- the numbers ------------------------------------------------------------------------------------------------


async def test_every_figure_equals_the_api_on_the_demo_data(client: httpx.AsyncClient, container: Container) -> None:
    # The real clock: the API's tokens are checked against it.
    await seed(container, patients=60, progress=False)
    await signed_in(client, container)

    stats = await api_stats(client)
    page, _ = await get_dashboard(client)

    assert_same_numbers(page, stats)
    # Real figures, not a page of zeros that would match an empty answer.
    assert sum(stats["kpis"].values()) > 10 and stats["rates"]["recovery"]["lifetime"] is not None
    assert sum(m["recovery_started"] for m in stats["charts"]["performance_12m"]) > 0


async def test_without_campaigns_the_rates_say_so(clinic: Clinic) -> None:
    await signed_in(clinic.http, clinic.container)

    page, _ = await get_dashboard(clinic.http)

    for kind in ("recovery", "recall"):
        for window in WINDOWS:
            assert page.text(f"rate-{kind}-{window}") == "— no campaigns yet"
    assert page.text("kpi-active_recall-value") == "0"


async def test_a_new_snapshot_shows_new_numbers(clinic: Clinic) -> None:
    # The clock stands still here: the page's charts must follow the snapshot, not its timestamp.
    container = clinic.container
    await signed_in(clinic.http, container)
    before, _ = await get_dashboard(clinic.http)
    await add_recall_campaigns(container, 3)

    container.dashboard_snapshot.mark_stale()
    await clinic.http.get("/console")
    await container.dashboard_snapshot.idle()
    after, _ = await get_dashboard(clinic.http)

    assert before.text("kpi-active_recall-value") == "0" and after.text("kpi-active_recall-value") == "3"
    assert after.numbers("performance-table")[-1] == [0, 0, 3, 0]
    assert after.text("rate-recall-month") == "0.0%"


async def add_recall_campaigns(container: Container, count: int) -> None:
    """`count` new recall campaigns (one patient each), created now."""
    now = container.clock.now()
    for i in range(count):
        patient, _ = await container.repos.patients.find_or_create(
            name=f"Pat {i}", email=f"pat{i}@example.com", phone=None, now=now
        )
        await container.repos.campaigns.insert(
            Campaign(
                id=new_id(),
                patient_id=patient.id,
                campaign_type=CampaignType.RECALL,
                status=CampaignStatus.ATTEMPTING_RECALL,
                follow_up_details=FollowUpDetails(attempts_made=1, next_follow_up_at=now),
                created_at=now,
                updated_at=now,
            )
        )


# ---- links ------------------------------------------------------------------------------------------------------


async def test_each_kpi_links_to_its_filtered_list(clinic: Clinic) -> None:
    await signed_in(clinic.http, clinic.container)

    page, _ = await get_dashboard(clinic.http)

    assert {key: page.attrs[f"kpi-{key}"]["href"] for key in KPIS} == DECEMBER_LINKS


def test_this_month_is_the_clinic_month_of_the_snapshot() -> None:
    berlin, new_york = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
    # 23:30 UTC on 30 November is already 1 December in Berlin, still 30 November in New York.
    evening = datetime(2030, 11, 30, 23, 30, tzinfo=UTC)
    assert kpi_links(evening, berlin)["booked_appointments_this_month"].endswith(
        "from=2030-12-01&to=2030-12-31&status=not_cancelled"
    )
    assert "converted_from=2030-11-01&converted_to=2030-11-30" in kpi_links(evening, new_york)["recoveries_this_month"]
    leap = kpi_links(datetime(2032, 2, 10, tzinfo=UTC), berlin)
    assert leap["booked_appointments_this_month"] == (
        "/console/appointments/list?from=2032-02-01&to=2032-02-29&status=not_cancelled"
    )


# ---- charts -----------------------------------------------------------------------------------------------------


async def test_charts_are_inline_svg_images_styled_by_a_same_origin_stylesheet(clinic: Clinic) -> None:
    await seed(clinic.container, patients=20, progress=False)
    await signed_in(clinic.http, clinic.container)

    page, html = await get_dashboard(clinic.http)

    for chart in ("performance", "appointments", "breakdown"):
        svg = page.attrs[f"chart-{chart}"]
        assert svg["role"] == "img" and svg["aria-label"].endswith(("12 months", "by state"))
        assert svg["viewbox"] == "0 0 420 300" and "width" not in svg and "height" not in svg
        caption = page.attrs[f"{chart}-caption"]
        assert page.attrs[f"{chart}-table"] and caption
    assert "<script" not in html and "<style" not in html and "pygal.js" not in html
    link = next(line for line in html.splitlines() if "charts.css" in line)
    href = link.split('href="', 1)[1].split('"', 1)[0]
    assert href.startswith("/static/charts.css?v=")
    css = await clinic.http.get(href)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "#chart-performance .axis" in css.text and "#chart-appointments .color-3" in css.text
    assert "googleapis" not in css.text and "@import" not in css.text


def test_the_chart_stylesheet_is_what_pygal_writes_for_the_charts() -> None:
    assert STYLESHEET.read_text(encoding="utf-8") == stylesheet(), "run `.venv/bin/python -m web.charts`"
