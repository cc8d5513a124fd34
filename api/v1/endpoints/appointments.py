"""Staff appointment management and the booking-link SMS."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import BookingServiceDep, ClientIP, CurrentStaff, SettingsDep
from core.config import Settings
from domain.audit import Actor
from domain.booking import StaffAppointment, StatusFilter
from models.enums import AppointmentStatus
from schemas.booking import (
    AppointmentPage,
    AppointmentStatusUpdate,
    SmsSentRead,
    StaffAppointmentRead,
)
from schemas.common import BODY_ERRORS, E164_PATTERN, error_responses

router = APIRouter(prefix="/api/v1", tags=["appointments"])
ObjectIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="appointment id")]


def staff_read(item: StaffAppointment, settings: Settings) -> StaffAppointmentRead:
    """Staff view of an appointment."""
    a = item.appointment
    return StaffAppointmentRead(
        id=a.id,
        start=a.start.astimezone(settings.zone),
        duration_minutes=a.duration_minutes,
        doctor=a.doctor,
        service=a.service,
        status=a.status,
        patient_id=a.patient_id,
        campaign_id=a.campaign_id,
        patient_name=item.patient.name if item.patient else None,
        patient_email=item.patient.email if item.patient else None,
        created_at=a.created_at,
    )


@router.get("/appointments", response_model=AppointmentPage, responses=error_responses(401, 422, 503))
async def list_appointments(
    user: CurrentStaff,
    booking: BookingServiceDep,
    settings: SettingsDep,
    ip: ClientIP,
    start_from: Annotated[date | None, Query(alias="from", description="first local day, YYYY-MM-DD")] = None,
    start_to: Annotated[date | None, Query(alias="to", description="last local day, YYYY-MM-DD")] = None,
    status: Annotated[StatusFilter | None, Query(description="a status, or not_cancelled")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="patient name or email")] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AppointmentPage:
    """Appointments sorted by start, filtered and paged."""
    items, total = await booking.list_for_staff(
        Actor(user.email, ip),
        start_from=start_from,
        start_to=start_to,
        status=status,
        q=q,
        page=page,
        page_size=page_size,
    )
    return AppointmentPage(items=[staff_read(i, settings) for i in items], total=total, page=page, page_size=page_size)


@router.patch(
    "/appointments/{appointment_id}",
    response_model=StaffAppointmentRead,
    responses=error_responses(*BODY_ERRORS, 401, 404, 409, 503),
)
async def update_appointment(
    appointment_id: ObjectIdPath,
    body: AppointmentStatusUpdate,
    user: CurrentStaff,
    booking: BookingServiceDep,
    settings: SettingsDep,
    ip: ClientIP,
) -> StaffAppointmentRead:
    """Mark completed / no_show / cancelled (cancel frees the slot)."""
    changed = await booking.set_status(Actor(user.email, ip), appointment_id, AppointmentStatus(body.status))
    return staff_read(StaffAppointment(changed, None), settings)


@router.get(
    "/phone_booking_post",
    response_model=SmsSentRead,
    responses=error_responses(
        401, 409, 422, 502, 503, notes={409: "SMS is not configured (`sms_not_configured`)", 502: "Twilio failed"}
    ),
)
async def phone_booking_post(
    user: CurrentStaff,
    ip: ClientIP,
    booking: BookingServiceDep,
    number: Annotated[str, Query(max_length=16, pattern=E164_PATTERN, description="E.164, e.g. +15551234567")],
    name: Annotated[str, Query(min_length=1, max_length=100)],
) -> SmsSentRead:
    """Text the booking link to a patient's phone."""
    return SmsSentRead(message_id=await booking.send_booking_link(Actor(user.email, ip), number=number, name=name))
