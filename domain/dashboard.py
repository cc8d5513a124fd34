"""The admin dashboard (ARCHITECTURE §4, definitions in docs/metrics.md).

Every figure comes out of two MongoDB aggregations (one over campaigns, one over the chart's appointments), run
concurrently. Months are local months of the clinic timezone: MongoDB labels each date with `$dateToString`
(`timezone: TZ`, DST-correct), and Python computes the chart's month labels and their UTC boundaries with
zoneinfo, then places the per-month rows into the 12 chart slots (absent months are zeros). Answers are served
from an in-process snapshot (core.snapshot) that is never older than DASHBOARD_MAX_AGE_SECONDS.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.clock import Clock
from core.config import Settings
from core.snapshot import Snapshot
from db.repositories import Repositories
from db.repositories.dashboard_queries import RATE_TYPES
from domain.slots import local_midnight_utc
from models.enums import AppointmentStatus

CHART_MONTHS = 12
TRAILING_WINDOW = timedelta(days=90)


@dataclass(frozen=True)
class Kpis:
    """Headline counts."""

    active_recovery: int
    active_recall: int
    engaged_leads: int
    handoffs: int
    recoveries_this_month: int
    booked_appointments_this_month: int


@dataclass(frozen=True)
class Rate:
    """Conversion rate of one campaign type over three windows (None when nothing was created in the window)."""

    month: float | None
    lifetime: float | None
    trailing_90d: float | None


@dataclass(frozen=True)
class Rates:
    """Conversion rates per campaign type."""

    recovery: Rate
    recall: Rate


@dataclass(frozen=True)
class PerformanceMonth:
    """Campaigns started and converted in one local month."""

    month: str
    recovery_started: int
    recovery_converted: int
    recall_started: int
    recall_converted: int


@dataclass(frozen=True)
class Breakdown:
    """Campaigns by state."""

    active: int
    recovered: int
    failed: int
    declined: int
    handoffs: int


@dataclass(frozen=True)
class AppointmentsMonth:
    """Appointments starting in one local month, by status."""

    month: str
    booked: int
    completed: int
    cancelled: int
    no_show: int


@dataclass(frozen=True)
class Charts:
    """The dashboard's charts."""

    performance_12m: list[PerformanceMonth]
    campaign_breakdown: Breakdown
    appointments_trend: list[AppointmentsMonth]


@dataclass(frozen=True)
class DashboardStats:
    """Everything the dashboard shows, as of `generated_at`."""

    generated_at: datetime
    timezone: str
    kpis: Kpis
    rates: Rates
    charts: Charts


def chart_months(zone: ZoneInfo, now: datetime) -> tuple[list[str], list[datetime]]:
    """Labels (YYYY-MM) of the 12 local months ending with the current one, and the 13 UTC instants bounding them."""
    local = now.astimezone(zone)
    firsts = []
    for back in range(CHART_MONTHS, -1, -1):
        index = local.year * 12 + local.month - 1 - back + 1
        firsts.append(date(index // 12, index % 12 + 1, 1))
    labels = [f"{d:%Y-%m}" for d in firsts[:-1]]
    return labels, [local_midnight_utc(zone, d) for d in firsts]


def _by_month(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    return {(row["_id"]["t"], row["_id"]["m"]): int(row["n"]) for row in rows}


def build_stats(
    *,
    campaigns: dict[str, Any],
    appointments: list[dict[str, Any]],
    labels: list[str],
    generated_at: datetime,
    timezone: str,
) -> DashboardStats:
    """Shape the two aggregations' results (numbers are used as computed; absent rows are zeros)."""
    totals: dict[str, Any] = campaigns["totals"][0] if campaigns["totals"] else {}
    started = _by_month(campaigns["started"])
    converted = _by_month(campaigns["converted"])
    trend = {row["_id"]: row for row in appointments}
    current = trend.get(labels[-1], {})

    def count(name: str, source: dict[str, Any] = totals) -> int:
        return int(source.get(name, 0))

    def rate(key: str) -> Rate:
        windows = {w: totals.get(f"rate_{key}_{w}") for w in ("month", "lifetime", "trailing_90d")}
        return Rate(**{w: None if v is None else float(v) for w, v in windows.items()})

    recovery, recall = (t.value for t in RATE_TYPES.values())
    return DashboardStats(
        generated_at=generated_at,
        timezone=timezone,
        kpis=Kpis(
            active_recovery=count("active_recovery"),
            active_recall=count("active_recall"),
            engaged_leads=count("engaged_leads"),
            handoffs=count("handoffs"),
            recoveries_this_month=count("recoveries_this_month"),
            booked_appointments_this_month=count("not_cancelled", current),
        ),
        rates=Rates(recovery=rate("recovery"), recall=rate("recall")),
        charts=Charts(
            performance_12m=[
                PerformanceMonth(
                    month=label,
                    recovery_started=started.get((recovery, label), 0),
                    recovery_converted=converted.get((recovery, label), 0),
                    recall_started=started.get((recall, label), 0),
                    recall_converted=converted.get((recall, label), 0),
                )
                for label in labels
            ],
            campaign_breakdown=Breakdown(
                active=count("breakdown_active"),
                recovered=count("breakdown_recovered"),
                failed=count("breakdown_failed"),
                declined=count("breakdown_declined"),
                handoffs=count("breakdown_handoffs"),
            ),
            appointments_trend=[
                AppointmentsMonth(
                    month=label, **{s.value: count(s.value, trend.get(label, {})) for s in AppointmentStatus}
                )
                for label in labels
            ],
        ),
    )


class DashboardService:
    """Computes the dashboard in the database and serves it from the instance's snapshot."""

    def __init__(self, *, settings: Settings, clock: Clock, repos: Repositories, snapshot: Snapshot[DashboardStats]):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.snapshot = snapshot

    async def stats(self) -> DashboardStats:
        """The dashboard, at most DASHBOARD_MAX_AGE_SECONDS old; only a cold snapshot waits for the computation."""
        return await self.snapshot.get(
            self.compute,
            max_age=self.settings.DASHBOARD_MAX_AGE_SECONDS,
            keep_fresh=self.settings.DASHBOARD_KEEP_FRESH_SECONDS,
        )

    async def compute(self) -> DashboardStats:
        """One full computation: two aggregate commands, run concurrently."""
        now = self.clock.now()
        labels, bounds = chart_months(self.settings.zone, now)
        zone = self.settings.TZ
        campaigns, appointments = await asyncio.gather(
            self.repos.campaigns.dashboard(timezone=zone, months=labels, since=now - TRAILING_WINDOW, now=now),
            self.repos.appointments.dashboard(timezone=zone, bounds=bounds),
        )
        return build_stats(
            campaigns=campaigns,
            appointments=appointments,
            labels=labels,
            generated_at=now,
            timezone=self.settings.TZ,
        )
