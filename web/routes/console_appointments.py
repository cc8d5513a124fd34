"""The console's appointments: the agenda per doctor, status changes, booking by phone, the booking-link SMS."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import BookingServiceDep, CampaignAdminServiceDep, ClientIP, ClockDep
from core.clock import Clock
from core.errors import Conflict, NotFound, Unprocessable, UpstreamError
from domain.audit import Actor
from domain.booking import STAFF_TRANSITIONS, BookingService
from domain.console_sessions import SignedIn
from web.agenda import (
    AGENDA,
    DONE,
    STATUS_CHOICES,
    back_with_notice,
    group_agenda,
    here,
    read_agenda,
    read_list,
    staff_row,
)
from web.console import ConsoleForm, ConsoleUser, console_page, is_id, pager
from web.errors import error_page
from web.forms import SEE_OTHER, Contact, FormText, bounded, read_contact, read_slot, sentence
from web.picker import build_picker, parse_day, parse_month
from web.views import Choice, book_from_form, book_link, choose

router = APIRouter(include_in_schema=False)
LIST = f"{AGENDA}/list"
NEW = f"{AGENDA}/new"
SMS = f"{AGENDA}/sms"
NAV_KEY = "appointments"
AGENDA_LIMIT = 500  # appointments on one agenda page; a busier range says so and asks for a narrower one
LIST_PAGE_SIZE = 50
MAX_SMS_NAME = 100
QueryText = Annotated[str | None, Query()]
DayField = Annotated[str, Form(alias="date")]
TimeField = Annotated[str, Form(alias="time")]
NextField = Annotated[str, Form(alias="next")]
_PHONE_SPACING = re.compile(r"[\s\-().]")
STAFF_STATUSES = {s.value: s for s in STAFF_TRANSITIONS}


def actor(user: SignedIn, ip: str | None) -> Actor:
    """The signed-in staff member as the audit trail names them."""
    return Actor(user.user.email, ip)


def notice_of(done: str | None) -> str | None:
    """The fixed text of a finished action (?done=...)."""
    return DONE.get(done or "")


# ---- the agenda -----------------------------------------------------------------------------------------------


@router.get(AGENDA, response_class=HTMLResponse)
async def agenda(
    request: Request,
    user: ConsoleUser,
    booking: BookingServiceDep,
    clock: ClockDep,
    ip: ClientIP,
    view: QueryText = None,
    day: Annotated[str | None, Query(alias="date")] = None,
    doctor: QueryText = None,
    done: QueryText = None,
) -> HTMLResponse:
    """One day or week of appointments per doctor, in the clinic's timezone."""
    settings = booking.settings
    today = clock.now().astimezone(settings.zone).date()
    query = read_agenda(view, day, doctor, today=today, doctors=settings.doctors)
    context: dict[str, Any] = {
        "query": query,
        "today": today,
        "doctors": settings.doctors,
        "zone": settings.TZ,
        "notice": notice_of(done),
        "here": here(request.url.path, request.url.query),
        "agenda": [],
        "total": 0,
        "shown": 0,
    }
    if query.problems:
        return console_page(request, "console/appointments.html", user, NAV_KEY, context, status_code=422)
    items, total = await booking.list_for_staff(
        actor(user, ip),
        start_from=query.days[0],
        start_to=query.days[-1],
        status=None,
        q=None,
        page=1,
        page_size=AGENDA_LIMIT,
        doctor=query.doctor,
    )
    rows = [staff_row(item, settings.zone) for item in items]
    doctors = [query.doctor] if query.doctor else settings.doctors
    context.update(agenda=group_agenda(rows, doctors=doctors, days=query.days), total=total, shown=len(rows))
    return console_page(request, "console/appointments.html", user, NAV_KEY, context)


@router.get(LIST, response_class=HTMLResponse)
async def appointment_list(
    request: Request,
    user: ConsoleUser,
    booking: BookingServiceDep,
    ip: ClientIP,
    q: QueryText = None,
    start_from: Annotated[str | None, Query(alias="from")] = None,
    start_to: Annotated[str | None, Query(alias="to")] = None,
    status: QueryText = None,
    page: QueryText = None,
    done: QueryText = None,
) -> HTMLResponse:
    """Appointments by patient search, local date range and status, paged."""
    query = read_list(q, start_from, start_to, status, page)
    context: dict[str, Any] = {
        "query": query,
        "statuses": STATUS_CHOICES,
        "zone": booking.settings.TZ,
        "notice": notice_of(done),
        "here": here(request.url.path, request.url.query),
        "rows": [],
        "pager": None,
    }
    if query.problems:
        return console_page(request, "console/appointments_list.html", user, NAV_KEY, context, status_code=422)
    items, total = await booking.list_for_staff(
        actor(user, ip),
        start_from=query.first,
        start_to=query.last,
        status=query.status,
        q=query.q or None,
        page=query.page,
        page_size=LIST_PAGE_SIZE,
    )
    context.update(
        rows=[staff_row(item, booking.settings.zone) for item in items],
        pager=pager(request, page=query.page, page_size=LIST_PAGE_SIZE, total=total),
    )
    return console_page(request, "console/appointments_list.html", user, NAV_KEY, context)


@router.post(AGENDA + "/{appointment_id}/status")
async def change_status(
    request: Request,
    appointment_id: str,
    user: ConsoleForm,
    booking: BookingServiceDep,
    ip: ClientIP,
    status: FormText = "",
    next_path: NextField = "",
) -> Response:
    """Mark completed, no-show or cancelled (cancel frees the slot), then back to the page staff came from (303)."""
    wanted = STAFF_STATUSES.get(status)
    if wanted is None:
        return error_page(
            request, 422, title="This change is not possible", message="Status must be completed, no_show or cancelled."
        )
    try:
        await booking.set_status(actor(user, ip), appointment_id, wanted)
    except NotFound:
        return error_page(
            request, 404, title="Appointment not found", message="There is no appointment with this id any more."
        )
    except Conflict as exc:
        return error_page(request, 409, title="This appointment cannot be changed", message=sentence(exc.detail))
    return RedirectResponse(back_with_notice(next_path, wanted.value), status_code=SEE_OTHER)


# ---- booking for a caller -------------------------------------------------------------------------------------


async def render_new(
    request: Request,
    user: SignedIn,
    booking: BookingService,
    clock: Clock,
    *,
    choice: Choice,
    month: date | None,
    day: date | None,
    patient_id: str,
    contact: Contact,
    picked_time: str = "",
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
    fresh: bool = False,
) -> HTMLResponse:
    """The public booking page's picker and details form, for staff booking on a caller's behalf."""
    settings = booking.settings
    keep = {"patient_id": patient_id} if patient_id else {}
    picker = await build_picker(
        booking,
        clock,
        duration_minutes=choice.service.duration_minutes,
        doctor=choice.doctor,
        month=month,
        day=day,
        link=lambda m, d: book_link(settings, choice, None, m, d, path=NEW, keep=keep),
        fresh=fresh,
    )
    context: dict[str, Any] = {
        "services": settings.services,
        "doctors": settings.doctors,
        "choice": choice,
        "picker": picker,
        "contact": contact,
        "patient_id": patient_id,
        "picked_time": picked_time if picked_time in picker.slots else "",
        "errors": errors or {},
        "message": message,
        "notice": picker.notice,
    }
    return console_page(request, "console/appointments_new.html", user, NAV_KEY, context, status_code=status_code)


@router.get(NEW, response_class=HTMLResponse)
async def new_page(
    request: Request,
    user: ConsoleUser,
    booking: BookingServiceDep,
    clock: ClockDep,
    admin: CampaignAdminServiceDep,
    ip: ClientIP,
    service: QueryText = None,
    doctor: QueryText = None,
    month: QueryText = None,
    day: QueryText = None,
    patient_id: QueryText = None,
) -> HTMLResponse:
    """Book for a patient on the phone; `patient_id` pre-fills a known patient's details."""
    contact = Contact(name="", email="", phone="")
    known = bounded(patient_id, 24)
    if patient_id:
        if not is_id(patient_id):
            raise NotFound("Patient not found", error="patient_not_found")
        patient = await admin.patient(actor(user, ip), patient_id)
        contact = Contact(name=patient.name, email=patient.email or "", phone=patient.phone or "")
    return await render_new(
        request,
        user,
        booking,
        clock,
        choice=choose(booking.settings, service, doctor),
        month=parse_month(bounded(month, 7)),
        day=parse_day(bounded(day, 10)),
        patient_id=known,
        contact=contact,
    )


@router.post(NEW, response_class=HTMLResponse)
async def book(
    request: Request,
    user: ConsoleForm,
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
    patient_id: FormText = "",
) -> Response:
    """Book the picked slot through the patient's booking use case, then the agenda of that day (303)."""
    choice = choose(booking.settings, service, doctor)
    slot = read_slot(day, at)
    contact = read_contact(name, email, phone)
    known = patient_id if is_id(patient_id) else ""

    async def again(status_code: int, *, errors: dict[str, str] | None = None, message: str | None = None) -> Response:
        """The form again with what staff typed and fresh times (after a lost slot: as they are now)."""
        return await render_new(
            request,
            user,
            booking,
            clock,
            choice=choice,
            month=None,
            day=slot.day,
            patient_id=known,
            contact=contact,
            picked_time=bounded(at, 5),
            errors=errors,
            message=message,
            status_code=status_code,
            fresh=status_code == 409,
        )

    booked = await book_from_form(
        choice, slot, contact, lambda request: booking.book_for_staff(actor(user, ip), request), again
    )
    if isinstance(booked, Response):
        return booked
    local_day = booked.appointment.start.astimezone(booking.settings.zone).date()
    return RedirectResponse(f"{AGENDA}?{urlencode({'date': local_day.isoformat(), 'done': 'booked'})}", SEE_OTHER)


# ---- the booking link by SMS ----------------------------------------------------------------------------------


def render_sms(
    request: Request,
    user: SignedIn,
    booking: BookingService,
    *,
    name: str = "",
    phone: str = "",
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The form that texts the booking link to a caller."""
    context = {
        "name": name,
        "phone": phone,
        "errors": errors or {},
        "notice": notice,
        "sms_ready": booking.sms is not None,
        "booking_url": booking.settings.booking_url,
    }
    return console_page(request, "console/appointments_sms.html", user, NAV_KEY, context, status_code=status_code)


@router.get(SMS, response_class=HTMLResponse)
async def sms_page(
    request: Request, user: ConsoleUser, booking: BookingServiceDep, done: QueryText = None
) -> HTMLResponse:
    """Text the booking link to a caller who wants to book themselves."""
    return render_sms(request, user, booking, notice=notice_of(done))


@router.post(SMS, response_class=HTMLResponse)
async def send_sms(
    request: Request,
    user: ConsoleForm,
    booking: BookingServiceDep,
    ip: ClientIP,
    name: FormText = "",
    phone: FormText = "",
) -> Response:
    """Send the link through the API's use case, then the form again with a notice (303)."""
    shown_name, shown_phone = bounded(name, MAX_SMS_NAME), bounded(phone, 40)
    number = _PHONE_SPACING.sub("", shown_phone)
    errors: dict[str, str] = {}
    if not shown_name:
        errors["name"] = "Please enter the caller's name."
    elif len(name.strip()) > MAX_SMS_NAME:
        errors["name"] = f"Please enter at most {MAX_SMS_NAME} characters."
    if not number:
        errors["phone"] = "Please enter the caller's mobile number."
    if errors:
        return render_sms(request, user, booking, name=shown_name, phone=shown_phone, errors=errors, status_code=422)
    try:
        await booking.send_booking_link(actor(user, ip), number=number, name=shown_name)
    except Unprocessable as exc:
        errors = {"phone": sentence(exc.detail)}
        return render_sms(request, user, booking, name=shown_name, phone=shown_phone, errors=errors, status_code=422)
    except Conflict as exc:
        return error_page(request, 409, title="SMS is not set up", message=sentence(exc.detail))
    except UpstreamError as exc:
        return error_page(request, 502, title="The SMS was not sent", message=sentence(exc.detail))
    return RedirectResponse(f"{SMS}?done=sms", status_code=SEE_OTHER)
