"""The patient's pages: book a visit, see the confirmation, and cancel or move it through the private link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import BookingServiceDep, ClientIP, ClockDep, SettingsDep
from core.clock import Clock
from core.config import ClinicService, Settings
from core.errors import Conflict, NotFound, Unprocessable
from domain.booking import BookingRequest, BookingService, SlotUnavailable
from domain.calendar import appointment_ics
from models.appointment import Appointment
from models.enums import AppointmentStatus
from web.forms import MAX_CHOICE, Contact, bounded, domain_errors, read_contact, read_slot, sentence, token_shape_ok
from web.picker import Picker, build_picker, parse_day, parse_month
from web.rendering import page

router = APIRouter(include_in_schema=False)
STATUS_LABELS = {
    AppointmentStatus.BOOKED: "Booked",
    AppointmentStatus.COMPLETED: "Completed",
    AppointmentStatus.CANCELLED: "Cancelled",
    AppointmentStatus.NO_SHOW: "Missed",
}
SEE_OTHER = 303


def manage_token(token: str) -> str:
    """The path's manage token when it has a token's shape (else the invalid-link page, before any parsing)."""
    if not token_shape_ok(token):
        raise NotFound("This link is invalid or has expired", error="invalid_manage_link")
    return token


ManageToken = Annotated[str, Depends(manage_token)]
QueryText = Annotated[str | None, Query()]
FormText = Annotated[str, Form()]
DayField = Annotated[str, Form(alias="date")]  # YYYY-MM-DD
TimeField = Annotated[str, Form(alias="time")]  # HH:MM


def manage_path(token: str) -> str:
    """The manage page of an appointment (relative to the site)."""
    return f"/manage/{token}"


# ---- the booking page -----------------------------------------------------------------------------------------


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


def book_link(settings: Settings, choice: Choice, c: str | None, month: date, day: date | None) -> str:
    """The booking page for a month (and day) of this choice, keeping the campaign token."""
    params = {"service": choice.service.name}
    if len(settings.doctors) > 1:
        params["doctor"] = choice.doctor
    params["month"] = f"{month:%Y-%m}"
    if day is not None:
        params["day"] = day.isoformat()
    if c:
        params["c"] = c
    return f"/book?{urlencode(params)}" + ("#times" if day else "#calendar")


async def render_book(
    request: Request,
    booking: BookingService,
    clock: Clock,
    *,
    choice: Choice,
    month: date | None,
    day: date | None,
    c: str | None,
    contact: Contact,
    picked_time: str = "",
    errors: dict[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The booking page: visit, calendar, times, the patient's details."""
    settings = booking.settings
    picker = await build_picker(
        booking,
        clock,
        duration_minutes=choice.service.duration_minutes,
        doctor=choice.doctor,
        month=month,
        day=day,
        link=lambda m, d: book_link(settings, choice, c, m, d),
    )
    errors = errors or {}
    context: dict[str, Any] = {
        "services": settings.services,
        "doctors": settings.doctors,
        "choice": choice,
        "picker": picker,
        "contact": contact,
        "picked_time": picked_time if picked_time in picker.slots else "",
        "errors": errors,
        "message": message,
        "notice": notice or picker.notice,
        "c": c or "",
    }
    return page(request, "book.html", context, status_code=status_code)


@router.get("/book", response_class=HTMLResponse)
async def book_page(
    request: Request,
    booking: BookingServiceDep,
    clock: ClockDep,
    service: QueryText = None,
    doctor: QueryText = None,
    month: QueryText = None,
    day: QueryText = None,
    c: QueryText = None,
) -> HTMLResponse:
    """The booking page; `c` (a campaign's link) pre-fills the patient's name and email."""
    prefill = await booking.campaign_prefill(c) if c and token_shape_ok(c) else None
    notice = None
    if c and prefill is None:
        notice = (
            "Your personal booking link has expired, so we could not fill in your details. You can still book here."
        )
    contact = Contact(name=prefill.name if prefill else "", email=(prefill.email or "") if prefill else "", phone="")
    return await render_book(
        request,
        booking,
        clock,
        choice=choose(booking.settings, service, doctor),
        month=parse_month(bounded(month, 7)),
        day=parse_day(bounded(day, 10)),
        c=c if prefill else None,
        contact=contact,
        notice=notice,
    )


@router.post("/book", response_class=HTMLResponse)
async def book(
    request: Request,
    booking: BookingServiceDep,
    clock: ClockDep,
    ip: ClientIP,
    service: FormText = "",
    doctor: FormText = "",
    day: DayField = "",
    at: TimeField = "",
    name: FormText = "",
    email: FormText = "",
    phone: FormText = "",
    c: FormText = "",
) -> Response:
    """Book the picked slot through the same use case as the API, then show the confirmation (303)."""
    choice = choose(booking.settings, service, doctor)
    slot = read_slot(day, at)
    contact = read_contact(name, email, phone)
    token = c if token_shape_ok(c) else None

    async def again(status_code: int, *, errors: dict[str, str] | None = None, message: str | None = None) -> Response:
        """The booking page again with the patient's input and fresh slots."""
        return await render_book(
            request,
            booking,
            clock,
            choice=choice,
            month=None,
            day=slot.day,
            c=token,
            contact=contact,
            picked_time=bounded(at, 5),
            errors=errors,
            message=message,
            status_code=status_code,
        )

    errors = {**slot.errors, **contact.errors}
    if errors:
        return await again(422, errors=errors)
    assert slot.day is not None and slot.at is not None
    try:
        booked = await booking.book(
            BookingRequest(
                name=contact.name,
                email=contact.email,
                phone=contact.phone or None,
                day=slot.day,
                at=slot.at,
                duration_minutes=None,
                service=choice.service.name,
                doctor=choice.doctor,
                campaign_token=token,
            ),
            ip=ip,
        )
    except SlotUnavailable as exc:
        return await again(409, message=sentence(exc.detail))
    except Unprocessable as exc:
        field_errors, message = domain_errors(exc)
        return await again(422, errors=field_errors, message=message)
    return RedirectResponse(f"{manage_path(booked.manage_token)}?booked=1", status_code=SEE_OTHER)


# ---- the manage pages -----------------------------------------------------------------------------------------


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
    # The same rule as BookingService's: changes online only up to CANCEL_MIN_NOTICE_HOURS before the start.
    early_enough = appointment.start - clock.now() >= timedelta(hours=settings.CANCEL_MIN_NOTICE_HOURS)
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


def _manage_context(token: str, appointment: Appointment, settings: Settings, clock: Clock) -> dict[str, Any]:
    path = manage_path(token)
    return {
        "appointment": appointment_view(appointment, settings, clock),
        "manage_path": path,
        "manage_url": settings.PUBLIC_BASE_URL.rstrip("/") + path,
        "ics_path": f"{path}/appointment.ics",
        "message": None,
    }


@router.get("/manage/{token}", response_class=HTMLResponse)
async def manage_page(
    request: Request,
    token: ManageToken,
    booking: BookingServiceDep,
    settings: SettingsDep,
    clock: ClockDep,
    booked: QueryText = None,
    cancelled: QueryText = None,
    moved: QueryText = None,
) -> HTMLResponse:
    """The appointment behind the private link (after booking: the confirmation)."""
    appointment = await booking.by_token(token)
    context = _manage_context(token, appointment, settings, clock)
    context["just"] = next(
        (what for what, flag in (("booked", booked), ("moved", moved), ("cancelled", cancelled)) if flag == "1"), None
    )
    return page(request, "manage.html", context)


@router.get("/manage/{token}/appointment.ics")
async def appointment_file(token: ManageToken, booking: BookingServiceDep, settings: SettingsDep) -> Response:
    """The appointment as a calendar file to add to the patient's calendar."""
    appointment = await booking.by_token(token)
    return Response(
        appointment_ics(appointment, settings),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="appointment.ics"'},
    )


@router.get("/manage/{token}/cancel", response_class=HTMLResponse)
async def cancel_page(
    request: Request, token: ManageToken, booking: BookingServiceDep, settings: SettingsDep, clock: ClockDep
) -> HTMLResponse:
    """Asks before cancelling (a GET never changes anything)."""
    appointment = await booking.by_token(token)
    return page(request, "cancel.html", _manage_context(token, appointment, settings, clock))


@router.post("/manage/{token}/cancel", response_class=HTMLResponse)
async def cancel(
    request: Request, token: ManageToken, booking: BookingServiceDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    """Cancel, then show the appointment (303); inside the notice window the page says to call."""
    try:
        await booking.cancel_by_token(token)
    except Conflict as exc:
        appointment = await booking.by_token(token)
        context = {**_manage_context(token, appointment, settings, clock), "message": sentence(exc.detail)}
        return page(request, "cancel.html", context, status_code=409)
    return RedirectResponse(f"{manage_path(token)}?cancelled=1", status_code=SEE_OTHER)


def reschedule_link(token: str, month: date, day: date | None) -> str:
    """The reschedule page for a month (and day)."""
    params = {"month": f"{month:%Y-%m}", **({"day": day.isoformat()} if day else {})}
    return f"{manage_path(token)}/reschedule?{urlencode(params)}" + ("#times" if day else "#calendar")


async def render_reschedule(
    request: Request,
    token: str,
    appointment: Appointment,
    booking: BookingService,
    clock: Clock,
    *,
    month: date | None,
    day: date | None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The picker for a new time of the same visit with the same doctor."""
    settings = booking.settings
    context = _manage_context(token, appointment, settings, clock)
    picker: Picker | None = None
    if context["appointment"].changeable:
        picker = await build_picker(
            booking,
            clock,
            duration_minutes=appointment.duration_minutes,
            doctor=appointment.doctor,
            month=month,
            day=day,
            link=lambda m, d: reschedule_link(token, m, d),
        )
    context.update(picker=picker, errors=errors or {}, message=message, notice=picker.notice if picker else None)
    return page(request, "reschedule.html", context, status_code=status_code)


@router.get("/manage/{token}/reschedule", response_class=HTMLResponse)
async def reschedule_page(
    request: Request,
    token: ManageToken,
    booking: BookingServiceDep,
    clock: ClockDep,
    month: QueryText = None,
    day: QueryText = None,
) -> HTMLResponse:
    """Pick a new day and time."""
    appointment = await booking.by_token(token)
    return await render_reschedule(
        request,
        token,
        appointment,
        booking,
        clock,
        month=parse_month(bounded(month, 7)),
        day=parse_day(bounded(day, 10)),
    )


@router.post("/manage/{token}/reschedule", response_class=HTMLResponse)
async def reschedule(
    request: Request,
    token: ManageToken,
    booking: BookingServiceDep,
    clock: ClockDep,
    day: DayField = "",
    at: TimeField = "",
) -> Response:
    """Move to the picked slot, then show the appointment (303); a taken slot shows the picker again (409)."""
    slot = read_slot(day, at)
    if slot.errors:
        appointment = await booking.by_token(token)
        return await render_reschedule(
            request, token, appointment, booking, clock, month=None, day=slot.day, errors=slot.errors, status_code=422
        )
    assert slot.day is not None and slot.at is not None
    try:
        await booking.reschedule_by_token(token, day=slot.day, at=slot.at)
    except (Conflict, Unprocessable) as exc:
        appointment = await booking.by_token(token)
        status = 409 if isinstance(exc, Conflict) else 422
        return await render_reschedule(
            request,
            token,
            appointment,
            booking,
            clock,
            month=None,
            day=slot.day,
            message=sentence(exc.detail),
            status_code=status,
        )
    return RedirectResponse(f"{manage_path(token)}?moved=1", status_code=SEE_OTHER)
