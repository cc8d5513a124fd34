"""The day-and-time picker shared by booking and rescheduling: a month calendar of free days and their slots."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from core.clock import Clock
from core.config import Settings
from domain.booking import Availability, BookingService, booking_horizon
from web.rendering import short_date

# (month, day) -> the URL that shows that month (and day); each page builds its own links.
LinkFor = Callable[[date, date | None], str]


@dataclass(frozen=True)
class CalendarDay:
    """One cell of the month grid."""

    day: date
    free: int
    selected: bool
    href: str | None
    label: str


@dataclass(frozen=True)
class Picker:
    """What the picker template shows."""

    month: date  # the first day of the shown month
    weeks: list[list[CalendarDay | None]]
    day: date | None  # the chosen day, None when the month has no free time
    slots: list[str]  # "HH:MM" in the clinic's timezone
    timezone: str
    doctor: str
    duration_minutes: int
    previous_href: str | None
    next_href: str | None
    notice: str | None  # e.g. the asked-for day is no longer free


def month_of(day: date) -> date:
    """The first day of the day's month."""
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def _previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def bookable_months(settings: Settings, clock: Clock) -> tuple[date, date]:
    """The first and last month of the booking horizon (today .. today + BOOKING_MAX_DAYS_AHEAD)."""
    first, last = booking_horizon(settings, clock.now())
    return month_of(first), month_of(last)


def parse_month(value: str | None) -> date | None:
    """'2026-12' as its first day, None when missing or malformed."""
    if not value or len(value) != 7:
        return None
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        return None


def parse_day(value: str | None) -> date | None:
    """'2026-12-08' as a date, None when missing or malformed."""
    if not value or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _times_free(count: int) -> str:
    return "1 time free" if count == 1 else f"{count} times free"


async def build_picker(
    booking: BookingService,
    clock: Clock,
    *,
    duration_minutes: int,
    doctor: str,
    month: date | None,
    day: date | None,
    link: LinkFor,
    fresh: bool = False,
) -> Picker:
    """The asked-for month (or the first with free time) with the asked-for day (or its first free day).

    `fresh` after a slot was just lost: the times as they are now (BookingService.availability).
    """
    settings = booking.settings
    first, last = bookable_months(settings, clock)
    wanted = month or (month_of(day) if day else None)
    if wanted is not None and not first <= wanted <= last:
        wanted = None

    async def load(shown: date) -> Availability:
        return await booking.availability(
            year=shown.year, month=shown.month, day=None, duration_minutes=duration_minutes, doctor=doctor, fresh=fresh
        )

    shown = wanted or first
    result = await load(shown)
    while wanted is None and not any(d.slots for d in result.days) and shown < last:
        shown = _next_month(shown)
        result = await load(shown)
    free = {d.day: [f"{s:%H:%M}" for s in d.slots] for d in result.days if d.slots}
    chosen = day if day in free else next(iter(sorted(free)), None)
    notice = None
    if day is not None and day not in free and month_of(day) == shown:
        notice = f"There are no free times on {short_date(day)} any more; please choose another day."

    weeks: list[list[CalendarDay | None]] = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(shown.year, shown.month):
        row: list[CalendarDay | None] = []
        for cell in week:
            if cell.month != shown.month:
                row.append(None)
                continue
            count = len(free.get(cell, []))
            label = f"{short_date(cell)}, {_times_free(count)}" if count else f"{short_date(cell)}, no free times"
            row.append(
                CalendarDay(
                    day=cell,
                    free=count,
                    selected=cell == chosen,
                    href=link(shown, cell) if count else None,
                    label=label,
                )
            )
        weeks.append(row)
    return Picker(
        month=shown,
        weeks=weeks,
        day=chosen,
        slots=free.get(chosen, []) if chosen else [],
        timezone=result.timezone,
        doctor=result.doctor,
        duration_minutes=duration_minutes,
        previous_href=link(_previous_month(shown), None) if shown > first else None,
        next_href=link(_next_month(shown), None) if shown < last else None,
        notice=notice,
    )
