"""Pure tests of slot computation: hours, DST days, notice, horizon, overlaps, buckets, month bounds."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.config import Settings
from domain.slots import (
    Busy,
    ClinicSchedule,
    available_slots,
    buckets,
    day_starts,
    local_start,
    month_availability,
    month_bounds_utc,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ALL_DAYS = frozenset(range(7))
TUESDAY = date(2026, 3, 10)
SUNDAY = date(2026, 3, 15)


def clinic(zone: ZoneInfo = BERLIN, **overrides: object) -> ClinicSchedule:
    """The default clinic (09:00-20:30, Mon-Sat, 2h notice, 90 days) with overrides."""
    values: dict[str, object] = {"zone": zone, "open": time(9, 0), "close": time(20, 30)}
    values.update(overrides)
    return ClinicSchedule(**values)  # type: ignore[arg-type]


def night_clinic(zone: ZoneInfo) -> ClinicSchedule:
    """A clinic open 00:00-23:30 every day, so DST transitions fall inside opening hours."""
    return clinic(zone, open=time(0, 0), close=time(23, 30), working_weekdays=ALL_DAYS)


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A local wall time in `zone` as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def half_hours(first: time, last: time) -> list[time]:
    """Every half-hour wall time from first to last inclusive."""
    out, t = [], datetime.combine(date.min, first)
    while t.time() <= last and t.date() == date.min:
        out.append(t.time())
        t += timedelta(minutes=30)
    return out


def hhmm(slots: list[time]) -> list[str]:
    return [s.strftime("%H:%M") for s in slots]


LONG_AGO = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def make_settings(**values: Any) -> Settings:
    """Settings from these values only, ignoring any `.env` file in the working directory."""
    return Settings(_env_file=None, **{"ENVIRONMENT": "test", **values})  # type: ignore[call-arg]


# --- schedule from settings ------------------------------------------------------------------------------


def test_from_settings_maps_every_field() -> None:
    settings = make_settings(
        ENVIRONMENT="test",
        TZ="America/New_York",
        CLINIC_OPEN="08:00",
        CLINIC_CLOSE="17:15",
        CLINIC_WORKING_DAYS="mon,Wed,friday",
        CLINIC_HOLIDAYS="2026-12-25,2027-01-01",
        BOOKING_MIN_NOTICE_MINUTES=45,
        BOOKING_MAX_DAYS_AHEAD=30,
    )
    schedule = ClinicSchedule.from_settings(settings)
    assert schedule == ClinicSchedule(
        zone=NEW_YORK,
        open=time(8, 0),
        close=time(17, 15),
        working_weekdays=frozenset({0, 2, 4}),
        holidays=frozenset({date(2026, 12, 25), date(2027, 1, 1)}),
        min_notice=timedelta(minutes=45),
        max_days_ahead=30,
        step_minutes=30,
    )


def test_from_default_settings() -> None:
    schedule = ClinicSchedule.from_settings(make_settings(ENVIRONMENT="test", TZ="Europe/Berlin"))
    assert schedule == clinic()
    assert schedule.working_weekdays == frozenset(range(6))
    assert schedule.min_notice == timedelta(hours=2)
    assert schedule.max_days_ahead == 90


def test_schedule_rejects_close_before_open() -> None:
    with pytest.raises(ValueError, match="close"):
        clinic(open=time(10, 0), close=time(9, 0))


# --- normal and closed days ------------------------------------------------------------------------------


def test_normal_weekday_30_minutes() -> None:
    slots = available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=[], now=LONG_AGO)
    assert slots == half_hours(time(9, 0), time(20, 0))
    assert len(slots) == 23
    assert hhmm(slots)[:3] == ["09:00", "09:30", "10:00"]


def test_normal_weekday_45_minutes_ends_at_1930() -> None:
    slots = available_slots(clinic(), day=TUESDAY, duration_minutes=45, busy=[], now=LONG_AGO)
    assert slots == half_hours(time(9, 0), time(19, 30))
    assert len(slots) == 22
    assert hhmm(slots)[-1] == "19:30"


def test_day_starts_are_utc_instants() -> None:
    starts = day_starts(clinic(), TUESDAY, 30)
    assert starts[0] == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)  # CET = UTC+1
    assert starts[-1] == datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
    assert all(s.utcoffset() == timedelta(0) for s in starts)


def test_closed_weekday_is_empty() -> None:
    assert day_starts(clinic(), SUNDAY, 30) == []
    assert available_slots(clinic(), day=SUNDAY, duration_minutes=30, busy=[], now=LONG_AGO) == []


def test_holiday_is_empty() -> None:
    schedule = clinic(holidays=frozenset({TUESDAY}))
    assert day_starts(schedule, TUESDAY, 30) == []
    assert available_slots(schedule, day=TUESDAY, duration_minutes=30, busy=[], now=LONG_AGO) == []
    assert (
        len(available_slots(schedule, day=TUESDAY + timedelta(days=1), duration_minutes=30, busy=[], now=LONG_AGO))
        == 23
    )


def test_non_positive_duration_rejected() -> None:
    with pytest.raises(ValueError):
        day_starts(clinic(), TUESDAY, 0)


def test_other_step_and_hours() -> None:
    schedule = clinic(open=time(8, 0), close=time(10, 0), step_minutes=15)
    assert hhmm(available_slots(schedule, day=TUESDAY, duration_minutes=45, busy=[], now=LONG_AGO)) == [
        "08:00",
        "08:15",
        "08:30",
        "08:45",
        "09:00",
        "09:15",
    ]


# --- daylight saving time --------------------------------------------------------------------------------

DST_DAYS = [
    # zone, day, UTC of 09:00 local, UTC of 09:00 the day before
    pytest.param(
        BERLIN,
        date(2026, 3, 29),
        datetime(2026, 3, 29, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 28, 8, 0, tzinfo=UTC),
        id="berlin-spring",
    ),
    pytest.param(
        BERLIN,
        date(2026, 10, 25),
        datetime(2026, 10, 25, 8, 0, tzinfo=UTC),
        datetime(2026, 10, 24, 7, 0, tzinfo=UTC),
        id="berlin-fall",
    ),
    pytest.param(
        NEW_YORK,
        date(2026, 3, 8),
        datetime(2026, 3, 8, 13, 0, tzinfo=UTC),
        datetime(2026, 3, 7, 14, 0, tzinfo=UTC),
        id="new-york-spring",
    ),
    pytest.param(
        NEW_YORK,
        date(2026, 11, 1),
        datetime(2026, 11, 1, 14, 0, tzinfo=UTC),
        datetime(2026, 10, 31, 13, 0, tzinfo=UTC),
        id="new-york-fall",
    ),
]


@pytest.mark.parametrize(("zone", "day", "nine_utc", "nine_utc_day_before"), DST_DAYS)
def test_dst_day_with_daytime_hours_is_unchanged(
    zone: ZoneInfo, day: date, nine_utc: datetime, nine_utc_day_before: datetime
) -> None:
    schedule = clinic(zone, working_weekdays=ALL_DAYS)
    now = datetime.combine(day - timedelta(days=20), time(), tzinfo=UTC)
    for duration, count in ((30, 23), (45, 22)):
        slots = available_slots(schedule, day=day, duration_minutes=duration, busy=[], now=now)
        assert len(slots) == count
        assert slots[0] == time(9, 0)
    starts = day_starts(schedule, day, 30)
    assert starts[0] == nine_utc
    assert starts == [nine_utc + timedelta(minutes=30 * i) for i in range(23)]
    assert day_starts(schedule, day - timedelta(days=1), 30)[0] == nine_utc_day_before
    assert local_start(schedule, day, time(9, 0)) == nine_utc


def test_dst_sundays_are_closed_by_default() -> None:
    assert day_starts(clinic(), date(2026, 3, 29), 30) == []


@pytest.mark.parametrize(("zone", "day"), [(BERLIN, date(2026, 3, 29)), (NEW_YORK, date(2026, 3, 8))])
def test_spring_forward_skips_nonexistent_wall_times(zone: ZoneInfo, day: date) -> None:
    schedule = night_clinic(zone)
    normal = day_starts(schedule, day - timedelta(days=1), 30)
    starts = day_starts(schedule, day, 30)
    assert len(normal) == 47
    assert len(starts) == 45
    slots = available_slots(schedule, day=day, duration_minutes=30, busy=[], now=LONG_AGO)
    assert len(slots) == 45
    assert time(2, 0) not in slots
    assert time(2, 30) not in slots
    assert time(1, 30) in slots
    assert time(3, 0) in slots
    assert local_start(schedule, day, time(2, 30)) is None
    # 01:30 and 03:00 local are only 30 real minutes apart on this day.
    assert local_start(schedule, day, time(3, 0)) - local_start(schedule, day, time(1, 30)) == timedelta(  # type: ignore[operator]
        minutes=30
    )
    assert starts == sorted(set(starts))


def test_spring_forward_utc_instants_berlin() -> None:
    starts = day_starts(night_clinic(BERLIN), date(2026, 3, 29), 30)
    assert starts[:5] == [
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),  # 00:00 CET
        datetime(2026, 3, 28, 23, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 0, 0, tzinfo=UTC),  # 01:00 CET
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # 01:30 CET
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 CEST
    ]
    assert starts[-1] == datetime(2026, 3, 29, 21, 0, tzinfo=UTC)  # 23:00 CEST


def test_fall_back_berlin_offers_ambiguous_times_once() -> None:
    schedule = night_clinic(BERLIN)
    day = date(2026, 10, 25)
    starts = day_starts(schedule, day, 30)
    assert len(starts) == 47
    assert len(set(starts)) == 47
    assert starts == sorted(starts)
    assert starts[2:8] == [
        datetime(2026, 10, 24, 23, 0, tzinfo=UTC),  # 01:00 CEST
        datetime(2026, 10, 24, 23, 30, tzinfo=UTC),  # 01:30 CEST
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC),  # 02:00 CEST (first occurrence)
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST (first occurrence)
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),  # 03:00 CET
        datetime(2026, 10, 25, 2, 30, tzinfo=UTC),  # 03:30 CET
    ]
    slots = available_slots(schedule, day=day, duration_minutes=30, busy=[], now=LONG_AGO.replace(month=10))
    assert slots == half_hours(time(0, 0), time(23, 0))
    assert local_start(schedule, day, time(2, 30)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_fall_back_new_york_offers_ambiguous_times_once() -> None:
    schedule = night_clinic(NEW_YORK)
    day = date(2026, 11, 1)
    starts = day_starts(schedule, day, 30)
    assert len(starts) == 47
    assert len(set(starts)) == 47
    assert starts == sorted(starts)
    assert starts[1:6] == [
        datetime(2026, 11, 1, 4, 30, tzinfo=UTC),  # 00:30 EDT
        datetime(2026, 11, 1, 5, 0, tzinfo=UTC),  # 01:00 EDT (first occurrence)
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # 01:30 EDT (first occurrence)
        datetime(2026, 11, 1, 7, 0, tzinfo=UTC),  # 02:00 EST
        datetime(2026, 11, 1, 7, 30, tzinfo=UTC),  # 02:30 EST
    ]


def test_busy_during_repeated_hour_blocks_only_what_it_overlaps() -> None:
    schedule = night_clinic(BERLIN)
    day = date(2026, 10, 25)
    # 02:15-02:45 CET, i.e. during the SECOND occurrence of 02:xx: no offered start overlaps it.
    second = Busy(datetime(2026, 10, 25, 1, 15, tzinfo=UTC), datetime(2026, 10, 25, 1, 45, tzinfo=UTC))
    now = datetime(2026, 10, 1, tzinfo=UTC)
    assert len(available_slots(schedule, day=day, duration_minutes=30, busy=[second], now=now)) == 47
    # 02:00-02:30 CEST (first occurrence) removes exactly the 02:00 start.
    first = Busy(datetime(2026, 10, 25, 0, 0, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    slots = available_slots(schedule, day=day, duration_minutes=30, busy=[first], now=now)
    assert time(2, 0) not in slots
    assert len(slots) == 46


# --- month bounds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "year", "month", "start", "end", "hours"),
    [
        (
            BERLIN,
            2026,
            3,
            datetime(2026, 2, 28, 23, tzinfo=UTC),
            datetime(2026, 3, 31, 22, tzinfo=UTC),
            31 * 24 - 1,
        ),
        (
            BERLIN,
            2026,
            10,
            datetime(2026, 9, 30, 22, tzinfo=UTC),
            datetime(2026, 10, 31, 23, tzinfo=UTC),
            31 * 24 + 1,
        ),
        (
            BERLIN,
            2026,
            6,
            datetime(2026, 5, 31, 22, tzinfo=UTC),
            datetime(2026, 6, 30, 22, tzinfo=UTC),
            30 * 24,
        ),
        (
            BERLIN,
            2026,
            12,
            datetime(2026, 11, 30, 23, tzinfo=UTC),
            datetime(2026, 12, 31, 23, tzinfo=UTC),
            31 * 24,
        ),
        (
            NEW_YORK,
            2026,
            3,
            datetime(2026, 3, 1, 5, tzinfo=UTC),
            datetime(2026, 4, 1, 4, tzinfo=UTC),
            31 * 24 - 1,
        ),
        (
            NEW_YORK,
            2026,
            11,
            datetime(2026, 11, 1, 4, tzinfo=UTC),
            datetime(2026, 12, 1, 5, tzinfo=UTC),
            30 * 24 + 1,
        ),
        (
            ZoneInfo("UTC"),
            2028,
            2,
            datetime(2028, 2, 1, tzinfo=UTC),
            datetime(2028, 3, 1, tzinfo=UTC),
            29 * 24,
        ),
    ],
)
def test_month_bounds_utc(zone: ZoneInfo, year: int, month: int, start: datetime, end: datetime, hours: int) -> None:
    bounds = month_bounds_utc(clinic(zone), year, month)
    assert bounds == (start, end)
    assert bounds[1] - bounds[0] == timedelta(hours=hours)


def test_month_bounds_when_local_midnight_does_not_exist() -> None:
    # Havana sprang forward from 00:00 to 01:00 on 2012-04-01: April starts at the transition instant.
    havana = clinic(ZoneInfo("America/Havana"))
    assert local_start(havana, date(2012, 4, 1), time(0, 0)) is None
    march = month_bounds_utc(havana, 2012, 3)
    april = month_bounds_utc(havana, 2012, 4)
    assert march[1] == april[0] == datetime(2012, 4, 1, 5, 0, tzinfo=UTC)
    assert april[0].astimezone(havana.zone).replace(tzinfo=None) == datetime(2012, 4, 1, 1, 0)
    assert (april[0] - timedelta(seconds=1)).astimezone(havana.zone).date() == date(2012, 3, 31)


def test_month_bounds_are_contiguous_across_a_year() -> None:
    schedule = clinic()
    bounds = [month_bounds_utc(schedule, 2026, m) for m in range(1, 13)]
    for earlier, later in pairwise(bounds):
        assert earlier[1] == later[0]
    assert bounds[-1][1] == month_bounds_utc(schedule, 2027, 1)[0]


# --- minimum notice, past days, horizon ------------------------------------------------------------------


def test_notice_at_1810_leaves_nothing() -> None:
    now = local(BERLIN, 2026, 3, 10, 18, 10)  # earliest start 20:10; last 30-min start is 20:00
    assert available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=[], now=now) == []
    assert available_slots(clinic(), day=TUESDAY, duration_minutes=45, busy=[], now=now) == []


def test_notice_at_1745() -> None:
    now = local(BERLIN, 2026, 3, 10, 17, 45)  # earliest start 19:45
    assert hhmm(available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=[], now=now)) == ["20:00"]
    assert available_slots(clinic(), day=TUESDAY, duration_minutes=45, busy=[], now=now) == []


def test_notice_boundary_is_inclusive() -> None:
    now = local(BERLIN, 2026, 3, 10, 17, 30)  # earliest start exactly 19:30
    assert hhmm(available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=[], now=now)) == [
        "19:30",
        "20:00",
    ]
    assert hhmm(available_slots(clinic(), day=TUESDAY, duration_minutes=45, busy=[], now=now)) == ["19:30"]


def test_notice_configurable_and_next_day_unaffected() -> None:
    now = local(BERLIN, 2026, 3, 10, 9, 5)
    no_notice = clinic(min_notice=timedelta(0))
    assert available_slots(no_notice, day=TUESDAY, duration_minutes=30, busy=[], now=now)[0] == time(9, 30)
    assert available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=[], now=now)[0] == time(11, 30)
    assert len(available_slots(clinic(), day=TUESDAY + timedelta(days=1), duration_minutes=30, busy=[], now=now)) == 23


def test_past_days_are_empty() -> None:
    now = local(BERLIN, 2026, 3, 10, 6, 0)
    assert available_slots(clinic(), day=date(2026, 3, 9), duration_minutes=30, busy=[], now=now) == []
    assert available_slots(clinic(), day=date(2025, 3, 11), duration_minutes=30, busy=[], now=now) == []


def test_today_uses_the_clinic_date_not_the_utc_date() -> None:
    # 23:30Z on the 9th is 00:30 on the 10th in Berlin: the 10th is today, the 9th is past.
    now = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    assert len(available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=[], now=now)) == 23
    assert available_slots(clinic(), day=date(2026, 3, 9), duration_minutes=30, busy=[], now=now) == []


def test_horizon() -> None:
    schedule = clinic(working_weekdays=ALL_DAYS)
    now = local(BERLIN, 2026, 3, 10, 12, 0)
    assert len(available_slots(schedule, day=TUESDAY + timedelta(days=90), duration_minutes=30, busy=[], now=now)) == 23
    assert available_slots(schedule, day=TUESDAY + timedelta(days=91), duration_minutes=30, busy=[], now=now) == []
    short = clinic(working_weekdays=ALL_DAYS, max_days_ahead=1)
    day_after_next = TUESDAY + timedelta(days=2)
    assert available_slots(short, day=day_after_next, duration_minutes=30, busy=[], now=now) == []


def test_naive_now_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=[], now=datetime(2026, 3, 1))


# --- busy intervals --------------------------------------------------------------------------------------


def appointment(day: date, at: time, minutes: int, zone: ZoneInfo = BERLIN) -> Busy:
    start = local_start(clinic(zone), day, at)
    assert start is not None
    return Busy(start, start + timedelta(minutes=minutes))


def test_busy_45_at_0900() -> None:
    busy = [appointment(TUESDAY, time(9, 0), 45)]
    thirty = hhmm(available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=busy, now=LONG_AGO))
    assert thirty == hhmm(half_hours(time(10, 0), time(20, 0)))
    assert thirty[0] == "10:00"
    assert "09:00" not in thirty and "09:30" not in thirty
    forty_five = hhmm(available_slots(clinic(), day=TUESDAY, duration_minutes=45, busy=busy, now=LONG_AGO))
    assert forty_five == hhmm(half_hours(time(10, 0), time(19, 30)))
    assert len(forty_five) == 20


def test_busy_30_at_1000_blocks_0930_for_45() -> None:
    busy = [appointment(TUESDAY, time(10, 0), 30)]
    forty_five = hhmm(available_slots(clinic(), day=TUESDAY, duration_minutes=45, busy=busy, now=LONG_AGO))
    assert forty_five[:3] == ["09:00", "10:30", "11:00"]
    assert len(forty_five) == 20
    thirty = hhmm(available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=busy, now=LONG_AGO))
    assert thirty[:3] == ["09:00", "09:30", "10:30"]
    assert len(thirty) == 22


def test_busy_touching_is_not_overlap() -> None:
    busy = [appointment(TUESDAY, time(9, 30), 30)]  # 09:30-10:00
    thirty = hhmm(available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=busy, now=LONG_AGO))
    assert thirty[:2] == ["09:00", "10:00"]


def test_busy_off_grid_and_nested_intervals() -> None:
    # A long block with a short one nested inside it: the long one must still block 11:00. 09:00-09:30
    # overlaps 09:15; 19:45-20:00 blocks 19:30 but not 20:00 (half-open intervals).
    busy = [
        appointment(TUESDAY, time(9, 30), 10),
        appointment(TUESDAY, time(9, 15), 150),  # 09:15-11:45
        appointment(TUESDAY, time(19, 45), 15),  # 19:45-20:00
    ]
    thirty = hhmm(available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=busy, now=LONG_AGO))
    assert thirty == [*hhmm(half_hours(time(12, 0), time(19, 0))), "20:00"]


def test_busy_on_other_days_does_not_matter() -> None:
    busy = [
        appointment(TUESDAY - timedelta(days=1), time(9, 0), 45),
        appointment(TUESDAY + timedelta(days=1), time(9, 0), 45),
    ]
    assert len(available_slots(clinic(), day=TUESDAY, duration_minutes=30, busy=busy, now=LONG_AGO)) == 23


def test_busy_validation() -> None:
    with pytest.raises(ValueError):
        Busy(datetime(2026, 3, 10, 9), datetime(2026, 3, 10, 10))
    with pytest.raises(ValueError):
        Busy(datetime(2026, 3, 10, 9, tzinfo=UTC), datetime(2026, 3, 10, 9, tzinfo=UTC))


def test_bisect_matches_brute_force() -> None:
    rng = random.Random(20260310)
    schedule = clinic(working_weekdays=ALL_DAYS)
    month_start, _ = month_bounds_utc(schedule, 2026, 3)
    for _ in range(30):
        busy = []
        for _ in range(rng.randint(0, 60)):
            start = month_start + timedelta(minutes=5 * rng.randrange(0, 31 * 24 * 12))
            busy.append(Busy(start, start + timedelta(minutes=rng.choice([15, 30, 45, 90, 300]))))
        duration = rng.choice([30, 45])
        result = month_availability(schedule, year=2026, month=3, duration_minutes=duration, busy=busy, now=LONG_AGO)
        for day, slots in result:
            expected = [
                s.astimezone(BERLIN).time()
                for s in day_starts(schedule, day, duration)
                if not any(s < b.end and b.start < s + timedelta(minutes=duration) for b in busy)
            ]
            assert slots == expected, day


# --- month availability ----------------------------------------------------------------------------------


def test_month_availability_lists_every_day_in_order() -> None:
    busy = [appointment(TUESDAY, time(9, 0), 45)]
    result = month_availability(clinic(), year=2026, month=3, duration_minutes=30, busy=busy, now=LONG_AGO)
    assert [day for day, _ in result] == [date(2026, 3, d) for d in range(1, 32)]
    for day, slots in result:
        assert slots == available_slots(clinic(), day=day, duration_minutes=30, busy=busy, now=LONG_AGO)
        if day.weekday() == 6:
            assert slots == []
    assert dict(result)[TUESDAY][0] == time(10, 0)
    assert len(dict(result)[date(2026, 3, 11)]) == 23


def test_month_availability_february_and_past_days() -> None:
    now = local(BERLIN, 2026, 2, 10, 12, 0)
    result = dict(month_availability(clinic(), year=2026, month=2, duration_minutes=30, busy=[], now=now))
    assert len(result) == 28
    assert result[date(2026, 2, 9)] == []
    assert hhmm(result[date(2026, 2, 10)])[0] == "14:00"
    assert len(result[date(2026, 2, 11)]) == 23


def test_month_availability_only_day() -> None:
    busy = [appointment(TUESDAY, time(10, 0), 30)]
    result = month_availability(
        clinic(), year=2026, month=3, duration_minutes=45, busy=busy, now=LONG_AGO, only_day=TUESDAY
    )
    assert result == [(TUESDAY, available_slots(clinic(), day=TUESDAY, duration_minutes=45, busy=busy, now=LONG_AGO))]
    assert month_availability(
        clinic(), year=2026, month=3, duration_minutes=30, busy=[], now=LONG_AGO, only_day=SUNDAY
    ) == [(SUNDAY, [])]


def test_month_availability_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        month_availability(clinic(), year=2026, month=4, duration_minutes=30, busy=[], now=LONG_AGO, only_day=TUESDAY)
    with pytest.raises(ValueError):
        month_availability(clinic(), year=2026, month=13, duration_minutes=30, busy=[], now=LONG_AGO)


# --- buckets ---------------------------------------------------------------------------------------------


def test_buckets() -> None:
    start = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    assert buckets(start, 45) == [start, start + timedelta(minutes=15), start + timedelta(minutes=30)]
    assert buckets(start, 30) == [start, start + timedelta(minutes=15)]
    assert buckets(start, 20) == [start, start + timedelta(minutes=15)]
    assert buckets(start, 60, bucket_minutes=30) == [start, start + timedelta(minutes=30)]


def test_buckets_are_utc_for_aware_local_input() -> None:
    start = datetime(2026, 3, 10, 9, 15, tzinfo=BERLIN)
    result = buckets(start, 30)
    assert result == [datetime(2026, 3, 10, 8, 15, tzinfo=UTC), datetime(2026, 3, 10, 8, 30, tzinfo=UTC)]
    assert all(b.tzinfo is UTC for b in result)


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 10, 8, 5, tzinfo=UTC),
        datetime(2026, 3, 10, 8, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 10, 8, 0, 0, 1, tzinfo=UTC),
    ],
)
def test_buckets_misaligned_start_raises(start: datetime) -> None:
    with pytest.raises(ValueError, match="aligned"):
        buckets(start, 45)


def test_buckets_naive_start_raises() -> None:
    with pytest.raises(ValueError):
        buckets(datetime(2026, 3, 10, 8, 0), 45)


def test_every_offered_start_has_aligned_buckets() -> None:
    for zone in (BERLIN, NEW_YORK, ZoneInfo("Asia/Kolkata"), ZoneInfo("Asia/Kathmandu")):
        for start in day_starts(clinic(zone), TUESDAY, 45):
            assert len(buckets(start, 45)) == 3


# --- local_start -----------------------------------------------------------------------------------------


def test_local_start() -> None:
    assert local_start(clinic(), TUESDAY, time(9, 0)) == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    assert local_start(clinic(), date(2026, 7, 1), time(9, 0)) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert local_start(clinic(), date(2026, 3, 29), time(2, 0)) is None
    assert local_start(clinic(NEW_YORK), date(2026, 3, 8), time(2, 59)) is None
    assert local_start(clinic(NEW_YORK), date(2026, 11, 1), time(1, 30)) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
