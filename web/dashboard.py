"""What the console's dashboard shows: the KPIs with links to their lists, the rates as percentages, the charts."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from markupsafe import Markup

from domain.dashboard import DashboardStats
from web.charts import chart_svg
from web.rendering import long_date

KPI_LABELS = {
    "active_recovery": "Active recovery campaigns",
    "active_recall": "Active recall campaigns",
    "engaged_leads": "Engaged leads",
    "handoffs": "Waiting for staff (handoffs)",
    "recoveries_this_month": "Recoveries this month",
    "booked_appointments_this_month": "Appointments this month",
}
RATE_WINDOWS = (("month", "This month"), ("trailing_90d", "Last 90 days"), ("lifetime", "All time"))
PERFORMANCE_COLUMNS = (
    ("recovery_started", "Started"),
    ("recovery_converted", "Converted"),
    ("recall_started", "Started"),
    ("recall_converted", "Converted"),
)
PERFORMANCE_GROUPS = (("Recovery", 2), ("Recall", 2))
APPOINTMENT_COLUMNS = (
    ("booked", "Booked"),
    ("completed", "Completed"),
    ("cancelled", "Cancelled"),
    ("no_show", "No-show"),
)
# (field, table row heading, chart label)
BREAKDOWN_ROWS = (
    ("active", "Active (contacting or engaged)", "Active"),
    ("recovered", "Recovered (booked)", "Recovered"),
    ("failed", "Failed", "Failed"),
    ("declined", "Declined", "Declined"),
    ("handoffs", "Waiting for staff (handoffs)", "Handoffs"),
)


def month_days(at: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """The first and last day of the local month holding `at`."""
    local = at.astimezone(zone).date()
    return local.replace(day=1), local.replace(day=calendar.monthrange(local.year, local.month)[1])


def kpi_links(generated_at: datetime, zone: ZoneInfo) -> dict[str, str]:
    """The filtered console list behind each KPI; "this month" is the clinic-local month of `generated_at`."""
    first, last = (day.isoformat() for day in month_days(generated_at, zone))
    campaigns = "/console/campaigns?"
    return {
        "active_recovery": campaigns + urlencode({"type": "RECOVERY", "status": "active"}),
        "active_recall": campaigns + urlencode({"type": "RECALL", "status": "active"}),
        "engaged_leads": campaigns + urlencode({"status": "ENGAGED"}),
        "handoffs": "/console/handoffs",
        "recoveries_this_month": campaigns
        + urlencode({"type": "RECOVERY", "status": "BOOKING_COMPLETED", "converted_from": first, "converted_to": last}),
        "booked_appointments_this_month": "/console/appointments/list?"
        + urlencode({"from": first, "to": last, "status": "not_cancelled"}),
    }


def percent(rate: float | None) -> str | None:
    """A rate in [0, 1] as "45.7%"; None when there is none."""
    return None if rate is None else f"{rate * 100:.1f}%"


def month_name(label: str) -> tuple[str, str]:
    """'2030-12' as ('Dec', 'Dec 2030')."""
    first = date.fromisoformat(label + "-01")
    return f"{first:%b}", f"{first:%b} {first.year}"


@dataclass(frozen=True)
class Kpi:
    """One headline figure and the list it links to."""

    key: str
    label: str
    value: int
    href: str


@dataclass(frozen=True)
class Table:
    """A chart's numbers: column headings (under optional group headings: title, span), and per row its heading,
    machine-readable month and cells."""

    columns: list[str]
    rows: list[tuple[str, str | None, list[int]]]
    groups: tuple[tuple[str, int], ...] = ()


def _charts(stats: DashboardStats) -> dict[str, tuple[Markup, Table]]:
    charts = stats.charts
    months = [p.month for p in charts.performance_12m]
    short = [month_name(m)[0] for m in months]

    def monthly(
        name: str, label: str, items: list[Any], columns: tuple[tuple[str, str], ...], groups: tuple[Any, ...] = ()
    ) -> tuple[Markup, Table]:
        values = [[getattr(item, field) for item in items] for field, _ in columns]
        rows = [(month_name(item.month)[1], item.month, [getattr(item, f) for f, _ in columns]) for item in items]
        return chart_svg(name, label, short, values), Table([t for _, t in columns], rows, groups)

    breakdown = [getattr(charts.campaign_breakdown, field) for field, _, _ in BREAKDOWN_ROWS]
    # pygal draws a horizontal bar chart's first label at the bottom: reversed, it reads top-down like the table.
    chart_labels = [label for _, _, label in reversed(BREAKDOWN_ROWS)]
    return {
        "performance": monthly(
            "performance",
            "Line chart of recovery and recall campaigns started and converted per month, last 12 months",
            charts.performance_12m,
            PERFORMANCE_COLUMNS,
            PERFORMANCE_GROUPS,
        ),
        "appointments": monthly(
            "appointments",
            "Stacked bar chart of appointments per month by status, last 12 months",
            charts.appointments_trend,
            APPOINTMENT_COLUMNS,
        ),
        "breakdown": (
            chart_svg("breakdown", "Bar chart of all campaigns by state", chart_labels, [breakdown[::-1]]),
            Table(["Campaigns"], [(row[1], None, [n]) for row, n in zip(BREAKDOWN_ROWS, breakdown, strict=True)]),
        ),
    }


def dashboard_view(stats: DashboardStats, zone: ZoneInfo) -> dict[str, Any]:
    """The dashboard template's context for one snapshot."""
    local = stats.generated_at.astimezone(zone)
    links = kpi_links(stats.generated_at, zone)
    kpis = [Kpi(key, label, getattr(stats.kpis, key), links[key]) for key, label in KPI_LABELS.items()]
    rates = [
        (kind, title, [(window, percent(getattr(getattr(stats.rates, kind), window))) for window, _ in RATE_WINDOWS])
        for kind, title in (("recovery", "Recovery"), ("recall", "Recall"))
    ]
    return {
        "generated_iso": local.isoformat(),
        "generated_text": f"{long_date(local.date())} at {local:%H:%M} {local:%Z} ({stats.timezone})",
        "kpis": kpis,
        "rate_windows": RATE_WINDOWS,
        "rates": rates,
        "charts": _charts(stats),
    }


class ViewCache:
    """The latest snapshot's view: the charts are rendered once per snapshot, not once per request."""

    def __init__(self) -> None:
        self._stats: DashboardStats | None = None
        self._view: dict[str, Any] = {}

    def view(self, stats: DashboardStats, zone: ZoneInfo) -> dict[str, Any]:
        """The view of `stats` (the same object as last time means the same numbers: reuse it)."""
        if stats is not self._stats:
            self._view, self._stats = dashboard_view(stats, zone), stats
        return self._view
