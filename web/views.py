"""What the patient pages show: the chosen visit, links that keep the picker's state, an appointment in clinic time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from fastapi.responses import Response

from core.clock import Clock
from core.config import ClinicService, Settings
from core.errors import Unprocessable
from domain.booking import Booked, BookingRequest, SlotUnavailable, manage_url, too_late_to_change
from models.appointment import Appointment
from models.enums import AppointmentStatus
from web.forms import MAX_CHOICE, Contact, SlotChoice, bounded, domain_errors, sentence

STATUS_LABELS = {
    AppointmentStatus.BOOKED: "Booked",
    AppointmentStatus.COMPLETED: "Completed",
    AppointmentStatus.CANCELLED: "Cancelled",
    AppointmentStatus.NO_SHOW: "Missed",
}


def manage_path(token: str) -> str:
    """The manage page of an appointment (relative to the site)."""
    return f"/manage/{token}"


@dataclass(frozen=True)
class Choice:
    """The visit type and doctor the page shows."""

    service: ClinicService
    doctor: str


def choose(settings: Settings, service: str | None, doctor: str | None) -> Choice:
    """The asked-for service and doctor when they exist, else the first service and the consulting doctor."""
    wanted = bounded(service, MAX_CHOICE).casefold()
    chosen = next((s for s in settings.services if s.name.casefold() == wanted), settings.services[0])
    doctor_name = bounded(doctor, MAX_CHOICE)
    return Choice(chosen, doctor_name if doctor_name in settings.doctors else settings.doctors[0])


def book_link(
    settings: Settings,
    choice: Choice,
    c: str | None,
    month: date,
    day: date | None,
    *,
    path: str = "/book",
    keep: dict[str, str] | None = None,
) -> str:
    """The booking page (or the console's, at `path`) for a month (and day), keeping the token and `keep`."""
    params = {"service": choice.service.name}
    if len(settings.doctors) > 1:
        params["doctor"] = choice.doctor
    params["month"] = f"{month:%Y-%m}"
    if day is not None:
        params["day"] = day.isoformat()
    if c:
        params["c"] = c
    params.update(keep or {})
    return f"{path}?{urlencode(params)}" + ("#times" if day else "#calendar")


def reschedule_link(token: str, month: date, day: date | None) -> str:
    """The reschedule page for a month (and day)."""
    params = {"month": f"{month:%Y-%m}", **({"day": day.isoformat()} if day else {})}
    return f"{manage_path(token)}/reschedule?{urlencode(params)}" + ("#times" if day else "#calendar")


@dataclass(frozen=True)
class AppointmentView:
    """An appointment as the patient reads it, in the clinic's timezone."""

    day: date
    time: str
    end_time: str
    timezone: str
    doctor: str
    service: str
    duration_minutes: int
    status: str
    status_label: str
    changeable: bool  # booked and outside the notice window: the cancel and reschedule buttons show
    too_late: bool  # booked but inside the notice window: call the clinic instead
    notice_hours: int


def appointment_view(appointment: Appointment, settings: Settings, clock: Clock) -> AppointmentView:
    """What the manage pages show about an appointment."""
    start = appointment.start.astimezone(settings.zone)
    end = start + timedelta(minutes=appointment.duration_minutes)
    booked = appointment.status == AppointmentStatus.BOOKED
    early_enough = not too_late_to_change(appointment, settings=settings, now=clock.now())
    return AppointmentView(
        day=start.date(),
        time=f"{start:%H:%M}",
        end_time=f"{end:%H:%M}",
        timezone=settings.TZ,
        doctor=appointment.doctor,
        service=appointment.service,
        duration_minutes=appointment.duration_minutes,
        status=appointment.status.value,
        status_label=STATUS_LABELS.get(appointment.status, appointment.status.value),
        changeable=booked and early_enough,
        too_late=booked and not early_enough,
        notice_hours=settings.CANCEL_MIN_NOTICE_HOURS,
    )


def manage_context(token: str, appointment: Appointment, settings: Settings, clock: Clock) -> dict[str, Any]:
    path = manage_path(token)
    return {
        "appointment": appointment_view(appointment, settings, clock),
        "manage_path": path,
        "manage_url": manage_url(settings, token),
        "ics_path": f"{path}/appointment.ics",
        "message": None,
    }


class FormAgain(Protocol):
    """The booking form again, with what was typed, at this status."""

    def __call__(
        self, status_code: int, *, errors: dict[str, str] | None = None, message: str | None = None
    ) -> Awaitable[Response]: ...


async def book_from_form(
    choice: Choice,
    slot: SlotChoice,
    contact: Contact,
    book: Callable[[BookingRequest], Awaitable[Booked]],
    again: FormAgain,
    *,
    campaign_token: str | None = None,
) -> Booked | Response:
    """Book a filled-in booking form through `book`; the form again on a form error (422) or a lost slot (409)."""
    errors = {**slot.errors, **contact.errors}
    if errors:
        return await again(422, errors=errors)
    assert slot.day is not None and slot.at is not None
    try:
        return await book(
            BookingRequest(
                name=contact.name,
                email=contact.email,
                phone=contact.phone or None,
                day=slot.day,
                at=slot.at,
                duration_minutes=None,
                service=choice.service.name,
                doctor=choice.doctor,
                campaign_token=campaign_token,
            )
        )
    except SlotUnavailable as exc:
        return await again(409, message=sentence(exc.detail))
    except Unprocessable as exc:
        field_errors, message = domain_errors(exc)
        return await again(422, errors=field_errors, message=message)
