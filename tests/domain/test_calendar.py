"""The appointment's .ics: parsed back with icalendar, in the clinic's timezone across a DST change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from core.config import Settings
from domain.calendar import appointment_ics
from models.appointment import Appointment
from models.base import new_id
from models.enums import AppointmentStatus

BERLIN = ZoneInfo("Europe/Berlin")


def start_of(event: Event) -> datetime:
    assert isinstance(event.start, datetime)
    return event.start


def appointment(
    start: datetime, *, minutes: int = 45, moved: timedelta | None = None, sequence: int = 0
) -> Appointment:
    created = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
    return Appointment(
        id="65f0c0ffee0000000000abcd", patient_id=new_id(), doctor="Dr. Patel", service="Cleaning",
        start=start.astimezone(UTC), duration_minutes=minutes,  # type: ignore[arg-type]
        created_at=created, updated_at=created + (moved or timedelta()), sequence=sequence,
    )  # fmt: skip


def clinic(make_settings: Callable[..., Settings], tz: str = "Europe/Berlin") -> Settings:
    return make_settings(
        TZ=tz, CLINIC_NAME="Bright Smiles", CLINIC_ADDRESS="1 Harbour Road, Springfield", CLINIC_PHONE="+49 30 1234",
        CLINIC_EMAIL="desk@brightsmiles.example",
    )  # fmt: skip


def test_one_event_in_clinic_time_after_the_spring_change(make_settings: Callable[..., Settings]) -> None:
    settings = clinic(make_settings)
    # Sunday 31 March 2030 is when Berlin moves to summer time; the visit is the Monday after, 10:00 local.
    start = datetime(2030, 4, 1, 10, 0, tzinfo=BERLIN)
    parsed = Calendar.from_ical(appointment_ics(appointment(start), settings))
    assert parsed["METHOD"] == "PUBLISH"
    [event] = parsed.events
    assert event.start == start and start_of(event).utcoffset() == timedelta(hours=2)
    assert str(start_of(event).tzinfo) == "Europe/Berlin" and event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event.end - event.start == timedelta(minutes=45)
    assert start_of(event).astimezone(UTC) == datetime(2030, 4, 1, 8, 0, tzinfo=UTC)
    assert str(event["UID"]) == "65f0c0ffee0000000000abcd@brightsmiles.example"
    assert str(event["SUMMARY"]) == "Cleaning at Bright Smiles"
    assert str(event["LOCATION"]) == "1 Harbour Road, Springfield"
    description = str(event["DESCRIPTION"])
    assert "Dr. Patel" in description and "+49 30 1234" in description
    [zone] = parsed.timezones
    assert zone.tz_name == "Europe/Berlin"
    # The VTIMEZONE itself says when the clocks change: both offsets are in it.
    offsets = {sub["TZOFFSETTO"].to_ical() for sub in zone.walk() if "TZOFFSETTO" in sub}
    assert offsets == {"+0100", "+0200"}


def test_a_visit_across_the_clock_change_lasts_its_real_length(make_settings: Callable[..., Settings]) -> None:
    settings = clinic(make_settings)
    # 01:30 winter time on the night of the change: 45 real minutes later it is 03:15 summer time.
    start = datetime(2030, 3, 31, 1, 30, tzinfo=BERLIN)
    [event] = Calendar.from_ical(appointment_ics(appointment(start), settings)).events
    end = event.end
    assert isinstance(end, datetime) and end == datetime(2030, 3, 31, 3, 15, tzinfo=BERLIN)
    assert end.astimezone(UTC) - start_of(event).astimezone(UTC) == timedelta(minutes=45)


def test_winter_time_before_the_change(make_settings: Callable[..., Settings]) -> None:
    settings = clinic(make_settings)
    start = datetime(2030, 3, 29, 19, 30, tzinfo=BERLIN)  # the Friday before the change: still +01:00
    [event] = Calendar.from_ical(appointment_ics(appointment(start, minutes=30), settings)).events
    assert event.start == start and start_of(event).utcoffset() == timedelta(hours=1)
    assert event.end == datetime(2030, 3, 29, 20, 0, tzinfo=BERLIN)


def test_nothing_about_the_patient(make_settings: Callable[..., Settings]) -> None:
    settings = clinic(make_settings)
    booked = appointment(datetime(2030, 4, 1, 10, 0, tzinfo=BERLIN))
    text = appointment_ics(booked, settings).decode()
    assert booked.patient_id not in text and "ATTENDEE" not in text and "ORGANIZER" not in text


def test_a_moved_appointment_keeps_its_uid_with_a_higher_sequence(make_settings: Callable[..., Settings]) -> None:
    settings = clinic(make_settings)
    first = appointment(datetime(2030, 4, 1, 10, 0, tzinfo=BERLIN))
    moved = appointment(datetime(2030, 4, 2, 15, 0, tzinfo=BERLIN), moved=timedelta(hours=3), sequence=1)
    [before] = Calendar.from_ical(appointment_ics(first, settings)).events
    [after] = Calendar.from_ical(appointment_ics(moved, settings)).events
    assert before["UID"] == after["UID"] and after.sequence > before.sequence
    assert after.start == datetime(2030, 4, 2, 15, 0, tzinfo=BERLIN)


def test_a_cancelled_appointment_says_so(make_settings: Callable[..., Settings]) -> None:
    settings = clinic(make_settings)
    cancelled = appointment(datetime(2030, 4, 1, 10, 0, tzinfo=BERLIN)).model_copy(
        update={"status": AppointmentStatus.CANCELLED}
    )
    [event] = Calendar.from_ical(appointment_ics(cancelled, settings)).events
    assert event["STATUS"] == "CANCELLED"


def test_a_utc_clinic_needs_no_vtimezone(make_settings: Callable[..., Settings]) -> None:
    settings = clinic(make_settings, tz="UTC")
    start = datetime(2030, 4, 1, 10, 0, tzinfo=UTC)
    parsed = Calendar.from_ical(appointment_ics(appointment(start), settings))
    [event] = parsed.events
    assert event.start == start and start_of(event).utcoffset() == timedelta(0)
