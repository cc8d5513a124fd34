"""Reading the console's dashboard in route and browser tests, and what the API says it must show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.web.console import PASSWORD

STATS = "/api/v1/admin/dashboard-stats"
KPIS = (
    "active_recovery",
    "active_recall",
    "engaged_leads",
    "handoffs",
    "recoveries_this_month",
    "booked_appointments_this_month",
)
WINDOWS = ("month", "trailing_90d", "lifetime")
TABLES = {
    "performance": (
        "performance_12m",
        ("recovery_started", "recovery_converted", "recall_started", "recall_converted"),
    ),
    "appointments": ("appointments_trend", ("booked", "completed", "cancelled", "no_show")),
}
BREAKDOWN = ("active", "recovered", "failed", "declined", "handoffs")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Dashboard:
    """What the test reads off the page: each id's attributes and text, each table's body rows and their months."""

    attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    months: dict[str, list[str]] = field(default_factory=dict)

    def text(self, element_id: str) -> str:
        """The element's text, whitespace collapsed."""
        return " ".join(self.texts[element_id].split())

    def numbers(self, table_id: str) -> list[list[int]]:
        """The table's body cells (after the row header) as numbers."""
        return [[int(cell.replace(",", "")) for cell in row[1:]] for row in self.tables[table_id]]


class _Reader(HTMLParser):
    def __init__(self, found: Dashboard):
        super().__init__(convert_charrefs=True)
        self.found = found
        self.open: list[str] = []  # the ids of the open elements ("" for none)
        self.table = ""
        self.in_body = False
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag in VOID:
            return
        element_id = values.get("id", "")
        self.open.append(element_id)
        if element_id:
            self.found.attrs[element_id], self.found.texts[element_id] = values, ""
        if tag == "table":
            self.table = element_id
            self.found.tables[element_id], self.found.months[element_id] = [], []
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.table and self.in_body:
            self.found.tables[self.table].append([])
        elif tag in ("th", "td") and self.table and self.in_body:
            self.cell = []
        elif tag == "time" and self.table:
            self.found.months[self.table].append(values["datetime"])

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        self.open.pop()
        if tag in ("th", "td") and self.cell is not None:
            self.found.tables[self.table][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tbody":
            self.in_body = False
        elif tag == "table":
            self.table = ""

    def handle_data(self, data: str) -> None:
        for element_id in filter(None, self.open):
            self.found.texts[element_id] += data
        if self.cell is not None:
            self.cell.append(data)


def rate_text(rate: float | None) -> str:
    """How the page shows a rate."""
    return "— no campaigns yet" if rate is None else f"{rate * 100:.1f}%"


async def api_stats(http: httpx.AsyncClient, email: str = "staff@clinic.test") -> dict[str, Any]:
    """GET /api/v1/admin/dashboard-stats with a JWT from the API's login."""
    response = await http.post("/api/v1/auth/login", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    answer = await http.get(STATS, headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert answer.status_code == 200, answer.text
    stats: dict[str, Any] = answer.json()
    return stats


def read_dashboard(html: str) -> Dashboard:
    """Read the dashboard's HTML (as served, or as the browser has it)."""
    found = Dashboard()
    _Reader(found).feed(html)
    return found


def assert_same_numbers(page: Dashboard, stats: dict[str, Any]) -> None:
    """Every KPI, rate and chart-table cell on the page equals the API's answer, as of the same instant."""
    generated = datetime.fromisoformat(page.attrs["generated-at"]["datetime"])
    assert generated == datetime.fromisoformat(stats["generated_at"])
    assert f"({stats['timezone']})" in page.text("generated-at")
    assert {key: int(page.text(f"kpi-{key}-value").replace(",", "")) for key in KPIS} == stats["kpis"]
    for kind in ("recovery", "recall"):
        for window in WINDOWS:
            assert page.text(f"rate-{kind}-{window}") == rate_text(stats["rates"][kind][window]), (kind, window)
    charts = stats["charts"]
    for table, (key, columns) in TABLES.items():
        assert page.months[f"{table}-table"] == [month["month"] for month in charts[key]]
        assert page.numbers(f"{table}-table") == [[month[c] for c in columns] for month in charts[key]], table
    assert page.numbers("breakdown-table") == [[charts["campaign_breakdown"][k]] for k in BREAKDOWN]
