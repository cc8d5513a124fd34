"""The appointment as an iCalendar file (RFC 5545) for "add to calendar" and the confirmation email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from icalendar import Calendar, Event
from icalendar.enums import STATUS

from core.config import Settings
from models.appointment import Appointment
from models.enums import AppointmentStatus

ICS_FILENAME = "appointment.ics"
ICS_CONTENT_TYPE = "text/calendar; method=PUBLISH"
PRODID = "-//MedCampaign//Appointments//EN"
# The VTIMEZONE covers a year either side of the visit: enough for any client, a few hundred bytes.
_ZONE_MARGIN = timedelta(days=366)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def clinic_domain(settings: Settings) -> str:
    """The clinic's own domain (CLINIC_EMAIL's, else PUBLIC_BASE_URL's host): the right-hand side of event UIDs."""
    return settings.CLINIC_EMAIL.rpartition("@")[2] or urlsplit(settings.PUBLIC_BASE_URL).hostname or "localhost"


def appointment_uid(appointment: Appointment, settings: Settings) -> str:
    """The event's UID, the same in every file of this appointment, so a calendar updates it rather than adding."""
    return f"{appointment.id}@{clinic_domain(settings)}"


def appointment_ics(appointment: Appointment, settings: Settings) -> bytes:
    """One VEVENT in the clinic's timezone (with its VTIMEZONE), METHOD:PUBLISH; nothing about the patient."""
    zone = settings.zone
    start_utc = _utc(appointment.start)
    # Added in UTC, then shown in clinic time: wall-clock arithmetic on a zoned datetime is wrong across DST.
    start = start_utc.astimezone(zone)
    end = (start_utc + timedelta(minutes=appointment.duration_minutes)).astimezone(zone)
    event = Event.new(
        uid=appointment_uid(appointment, settings),
        start=start,
        end=end,
        summary=f"{appointment.service} at {settings.CLINIC_NAME}",
        location=settings.CLINIC_ADDRESS,
        description=(
            f"{appointment.service} with {appointment.doctor}.\n"
            f"To change or cancel, call {settings.CLINIC_NAME} at {settings.CLINIC_PHONE}."
        ),
        sequence=appointment.sequence,
        stamp=_utc(appointment.updated_at),
        status=STATUS.CANCELLED if appointment.status == AppointmentStatus.CANCELLED else STATUS.CONFIRMED,
    )
    calendar = Calendar.new(
        prodid=PRODID, method="PUBLISH", uid=f"calendar-{appointment_uid(appointment, settings)}", subcomponents=[event]
    )
    calendar.add_missing_timezones(first_date=start.date() - _ZONE_MARGIN, last_date=end.date() + _ZONE_MARGIN)
    return calendar.to_ical()
