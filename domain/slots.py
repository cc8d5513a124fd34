"""Pure slot computation in the clinic timezone: candidate starts, availability and 15-minute claim buckets.

No I/O here. Every local wall time is built in the clinic zone and converted to UTC with zoneinfo, so
daylight-saving days are handled: a wall time that does not exist (spring forward) is never offered and an
ambiguous one (fall back) is offered once, as its first occurrence (fold=0).
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from core.config import Settings

_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ClinicSchedule:
    """Opening hours and booking rules of the clinic, in its own timezone."""

    zone: ZoneInfo
    open: time
    close: time
    working_weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(6)))
    holidays: frozenset[date] = field(default_factory=frozenset)
    min_notice: timedelta = timedelta(hours=2)
    max_days_ahead: int = 90
    step_minutes: int = 30

    def __post_init__(self) -> None:
        if self.open.tzinfo is not None or self.close.tzinfo is not None:
            raise ValueError("open and close are local wall times without tzinfo")
        if self.close <= self.open:
            raise ValueError("close must be after open")
        if self.step_minutes <= 0:
            raise ValueError("step_minutes must be positive")
        if not self.working_weekdays <= frozenset(range(7)):
            raise ValueError("working_weekdays must be in 0 (Monday) .. 6 (Sunday)")
        if self.min_notice < timedelta(0):
            raise ValueError("min_notice must not be negative")
        if self.max_days_ahead < 0:
            raise ValueError("max_days_ahead must not be negative")

    @classmethod
    def from_settings(cls, settings: Settings) -> ClinicSchedule:
        """Build the schedule from CLINIC_* and BOOKING_* settings and TZ."""
        return cls(
            zone=settings.zone,
            open=settings.CLINIC_OPEN,
            close=settings.CLINIC_CLOSE,
            working_weekdays=frozenset(_WEEKDAY_NAMES.index(d.lower()[:3]) for d in settings.CLINIC_WORKING_DAYS),
            holidays=frozenset(date.fromisoformat(d) for d in settings.CLINIC_HOLIDAYS),
            min_notice=timedelta(minutes=settings.BOOKING_MIN_NOTICE_MINUTES),
            max_days_ahead=settings.BOOKING_MAX_DAYS_AHEAD,
        )

    def is_open_on(self, day: date) -> bool:
        """True when the clinic works on that local day."""
        return day.weekday() in self.working_weekdays and day not in self.holidays


@dataclass(frozen=True)
class Busy:
    """An existing non-cancelled appointment of the doctor, as a half-open UTC interval [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Busy start and end must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("Busy end must be after start")


class _BusyIndex:
    """Busy intervals sorted once; each overlap test is one bisect plus a prefix-max lookup."""

    def __init__(self, busy: Sequence[Busy]):
        ordered = sorted(busy, key=lambda b: b.start)
        self._starts = [b.start for b in ordered]
        # Running maximum of ends, so overlapping or nested intervals are still found by a single lookup.
        self._max_end = list(accumulate((b.end for b in ordered), max))

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """True when [start, end) overlaps any busy interval."""
        count = bisect_left(self._starts, end)  # intervals starting before `end`
        return count > 0 and self._max_end[count - 1] > start


def _to_utc(zone: ZoneInfo, naive: datetime) -> datetime | None:
    """The UTC instant of a local wall time (first occurrence when ambiguous), None when it does not exist."""
    utc = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != naive:
        return None
    return utc


def _first_instant_at_or_after(zone: ZoneInfo, naive: datetime) -> datetime:
    """The earliest UTC instant whose local wall time is at or after `naive` (the gap's end if skipped)."""
    exact = _to_utc(zone, naive)
    if exact is not None:
        return exact
    # Inside a gap the transition lies between the two fold interpretations; find it to the microsecond.
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    low, high = min(low, high), max(low, high)
    while high - low > timedelta(microseconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= naive:
            high = mid
        else:
            low = mid
    return high


def _check_duration(duration_minutes: int) -> None:
    if duration_minutes <= 0:
        raise ValueError("duration_minutes must be positive")


def _check_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def _candidates(schedule: ClinicSchedule, day: date, duration_minutes: int) -> list[tuple[time, datetime]]:
    """(local wall time, UTC start) of every candidate start of a local day."""
    _check_duration(duration_minutes)
    if not schedule.is_open_on(day):
        return []
    step = timedelta(minutes=schedule.step_minutes)
    duration = timedelta(minutes=duration_minutes)
    wall = datetime.combine(day, schedule.open)
    closing = datetime.combine(day, schedule.close)
    result: list[tuple[time, datetime]] = []
    while wall + duration <= closing:
        utc = _to_utc(schedule.zone, wall)
        if utc is not None:
            result.append((wall.time(), utc))
        wall += step
    return result


def day_starts(schedule: ClinicSchedule, day: date, duration_minutes: int) -> list[datetime]:
    """Candidate starts (aware UTC) of a local day; [] when the clinic is closed that day."""
    return [utc for _, utc in _candidates(schedule, day, duration_minutes)]


def _slots_for_day(
    schedule: ClinicSchedule,
    *,
    day: date,
    duration_minutes: int,
    index: _BusyIndex,
    now: datetime,
) -> list[time]:
    today_local = now.astimezone(schedule.zone).date()
    if day < today_local or day > today_local + timedelta(days=schedule.max_days_ahead):
        return []
    earliest = now + schedule.min_notice
    duration = timedelta(minutes=duration_minutes)
    return [
        wall
        for wall, start in _candidates(schedule, day, duration_minutes)
        if start >= earliest and not index.overlaps(start, start + duration)
    ]


def available_slots(
    schedule: ClinicSchedule,
    *,
    day: date,
    duration_minutes: int,
    busy: Sequence[Busy],
    now: datetime,
) -> list[time]:
    """Local start times bookable on `day`: not before now + notice, within the horizon, free of busy."""
    _check_aware(now, "now")
    return _slots_for_day(schedule, day=day, duration_minutes=duration_minutes, index=_BusyIndex(busy), now=now)


def month_availability(
    schedule: ClinicSchedule,
    *,
    year: int,
    month: int,
    duration_minutes: int,
    busy: Sequence[Busy],
    now: datetime,
    only_day: date | None = None,
) -> list[tuple[date, list[time]]]:
    """Slots of every day of the month in order (closed days with []), or of `only_day` alone."""
    _check_aware(now, "now")
    _check_duration(duration_minutes)
    days_in_month = calendar.monthrange(year, month)[1]
    if only_day is not None:
        if (only_day.year, only_day.month) != (year, month):
            raise ValueError("only_day must lie in the given year and month")
        days = [only_day]
    else:
        days = [date(year, month, d) for d in range(1, days_in_month + 1)]
    index = _BusyIndex(busy)
    return [
        (day, _slots_for_day(schedule, day=day, duration_minutes=duration_minutes, index=index, now=now))
        for day in days
    ]


def month_bounds_utc(schedule: ClinicSchedule, year: int, month: int) -> tuple[datetime, datetime]:
    """UTC instants of local midnight starting the month and starting the next month."""
    first = date(year, month, 1)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (
        _first_instant_at_or_after(schedule.zone, datetime.combine(first, time())),
        _first_instant_at_or_after(schedule.zone, datetime.combine(following, time())),
    )


def local_midnight_utc(zone: ZoneInfo, day: date) -> datetime:
    """The UTC instant a local day begins (DST-correct)."""
    return _first_instant_at_or_after(zone, datetime.combine(day, time()))


def buckets(start: datetime, duration_minutes: int, bucket_minutes: int = 15) -> list[datetime]:
    """UTC starts of the buckets covered by [start, start + duration); start must be bucket-aligned."""
    _check_aware(start, "start")
    _check_duration(duration_minutes)
    if bucket_minutes <= 0:
        raise ValueError("bucket_minutes must be positive")
    start = start.astimezone(UTC)
    size = timedelta(minutes=bucket_minutes)
    if (start - _EPOCH) % size:
        raise ValueError(f"start {start.isoformat()} is not aligned to {bucket_minutes} minutes")
    count = -(-duration_minutes // bucket_minutes)
    return [start + i * size for i in range(count)]


def local_start(schedule: ClinicSchedule, day: date, hhmm: time) -> datetime | None:
    """The aware UTC instant of a local wall time on `day`, or None when it does not exist (DST gap)."""
    return _to_utc(schedule.zone, datetime.combine(day, hhmm.replace(tzinfo=None)))
