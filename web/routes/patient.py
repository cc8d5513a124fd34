"""The patient's pages: book a visit, see the confirmation, and cancel or move it through the private link."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import BookingServiceDep, ClientIP, ClockDep, SettingsDep
from core.clock import Clock
from core.errors import Conflict, NotFound, Unprocessable
from domain.booking import BookingService
from domain.calendar import appointment_ics
from models.appointment import Appointment
from web.forms import (
    SEE_OTHER,
    Contact,
    FormText,
    bounded,
    read_contact,
    read_slot,
    sentence,
    token_shape_ok,
)
from web.picker import Picker, build_picker, parse_day, parse_month
from web.rendering import page
from web.views import Choice, book_from_form, book_link, choose, manage_context, manage_path, reschedule_link

router = APIRouter(include_in_schema=False)


def manage_token(token: str) -> str:
    """The path's manage token when it has a token's shape (else the invalid-link page, before any parsing)."""
    if not token_shape_ok(token):
        raise NotFound("This link is invalid or has expired", error="invalid_manage_link")
    return token


ManageToken = Annotated[str, Depends(manage_token)]
QueryText = Annotated[str | None, Query()]
DayField = Annotated[str, Form(alias="date")]  # YYYY-MM-DD
TimeField = Annotated[str, Form(alias="time")]  # HH:MM


# ---- the booking page -----------------------------------------------------------------------------------------


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
    fresh: bool = False,
) -> HTMLResponse:
    """The booking page: visit, calendar, times, the patient's details (`fresh`: after a slot was just lost)."""
    settings = booking.settings
    picker = await build_picker(
        booking,
        clock,
        duration_minutes=choice.service.duration_minutes,
        doctor=choice.doctor,
        month=month,
        day=day,
        link=lambda m, d: book_link(settings, choice, c, m, d),
        fresh=fresh,
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
            fresh=status_code == 409,  # the slot was lost: offer the times as they are now
        )

    booked = await book_from_form(
        choice, slot, contact, lambda request: booking.book(request, ip=ip), again, campaign_token=token
    )
    if isinstance(booked, Response):
        return booked
    return RedirectResponse(f"{manage_path(booked.manage_token)}?booked=1", status_code=SEE_OTHER)


# ---- the manage pages -----------------------------------------------------------------------------------------


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
    context = manage_context(token, appointment, settings, clock)
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
    return page(request, "cancel.html", manage_context(token, appointment, settings, clock))


@router.post("/manage/{token}/cancel", response_class=HTMLResponse)
async def cancel(
    request: Request, token: ManageToken, booking: BookingServiceDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    """Cancel, then show the appointment (303); inside the notice window the page says to call."""
    try:
        await booking.cancel_by_token(token)
    except Conflict as exc:
        appointment = await booking.by_token(token)
        context = {**manage_context(token, appointment, settings, clock), "message": sentence(exc.detail)}
        return page(request, "cancel.html", context, status_code=409)
    return RedirectResponse(f"{manage_path(token)}?cancelled=1", status_code=SEE_OTHER)


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
    fresh: bool = False,
) -> HTMLResponse:
    """The picker for a new time of the same visit with the same doctor (`fresh`: after a slot was just lost)."""
    settings = booking.settings
    context = manage_context(token, appointment, settings, clock)
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
            fresh=fresh,
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
            fresh=status == 409,
        )
    return RedirectResponse(f"{manage_path(token)}?moved=1", status_code=SEE_OTHER)
