"""Public booking: availability, book, and patient self-service through the private manage link."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import AfterValidator

from api.deps import BookingServiceDep, ClientIP, SettingsDep
from core.config import Settings
from domain.booking import BookingRequest
from models.appointment import Appointment
from schemas.booking import (
    DURATION_SCHEMA,
    AppointmentRead,
    AvailabilityRead,
    BookedRead,
    BookingCreate,
    DayRead,
    RescheduleUpdate,
    ServiceRead,
    allowed_duration,
)
from schemas.common import BODY_ERRORS, error_responses

router = APIRouter(prefix="/api/v1", tags=["booking"])
ManageToken = Annotated[str, Path(min_length=20, max_length=300, pattern=r"^[A-Za-z0-9_\-.]+$")]
LINK_ERRORS = error_responses(404, 422, 503, notes={404: "The manage link is invalid or has expired"})
CANCEL_ERRORS = error_responses(404, 409, 422, 503, notes={409: "Already cancelled, or inside the minimum notice"})
CHANGE_ERRORS = error_responses(
    *BODY_ERRORS, 404, 409, 429, 503, notes={404: "Unknown link or campaign", 409: "The slot is not available"}
)


def appointment_read(appointment: Appointment, settings: Settings) -> AppointmentRead:
    """The patient's view, the start in clinic local time with its offset."""
    return AppointmentRead(
        id=appointment.id,
        start=appointment.start.astimezone(settings.zone),
        duration_minutes=appointment.duration_minutes,
        doctor=appointment.doctor,
        service=appointment.service,
        status=appointment.status,
    )


@router.get("/services", response_model=list[ServiceRead])
async def services(booking: BookingServiceDep) -> list[ServiceRead]:
    """The visit types patients can book, each with its duration in minutes (CLINIC_SERVICES)."""
    return [ServiceRead.model_validate(s, from_attributes=True) for s in booking.services()]


@router.get("/availability", response_model=AvailabilityRead, responses=error_responses(422, 503))
async def availability(
    booking: BookingServiceDep,
    month: Annotated[int, Query(ge=1, le=12)],
    year: Annotated[int, Query(ge=2000, le=2100)],
    date: Annotated[date | None, Query(description="one day of the month, YYYY-MM-DD")] = None,
    duration: Annotated[
        int, Query(description="30 or 45 minutes", json_schema_extra=DURATION_SCHEMA), AfterValidator(allowed_duration)
    ] = 30,
    doctor: Annotated[str | None, Query(max_length=200)] = None,
) -> AvailabilityRead:
    """Free slots of a month (or one day), in the clinic's timezone."""
    result = await booking.availability(year=year, month=month, day=date, duration_minutes=duration, doctor=doctor)
    return AvailabilityRead(
        timezone=result.timezone,
        doctor=result.doctor,
        duration_minutes=result.duration_minutes,
        days=[DayRead(date=d.day, slots=[f"{s:%H:%M}" for s in d.slots]) for d in result.days],
    )


@router.post(
    "/appointments/book", response_model=BookedRead, status_code=status.HTTP_201_CREATED, responses=CHANGE_ERRORS
)
async def book(body: BookingCreate, booking: BookingServiceDep, settings: SettingsDep, ip: ClientIP) -> BookedRead:
    """Book a free slot; finds or creates the patient by email and converts their campaign."""
    booked = await booking.book(
        BookingRequest(
            name=body.name,
            email=str(body.email),
            phone=body.phone,
            day=body.date,
            at=body.time,
            duration_minutes=body.duration_minutes,
            service=body.service,
            doctor=body.doctor,
            campaign_id=body.campaign_id,
            campaign_token=body.campaign_token,
        ),
        ip=ip,
    )
    view = appointment_read(booked.appointment, settings)
    return BookedRead(**view.model_dump(), manage_url=booked.manage_url)


@router.get("/appointments/manage/{token}", response_model=AppointmentRead, responses=LINK_ERRORS)
async def manage(token: ManageToken, booking: BookingServiceDep, settings: SettingsDep) -> AppointmentRead:
    """The appointment behind a private manage link."""
    return appointment_read(await booking.by_token(token), settings)


@router.post("/appointments/manage/{token}/cancel", response_model=AppointmentRead, responses=CANCEL_ERRORS)
async def cancel(token: ManageToken, booking: BookingServiceDep, settings: SettingsDep) -> AppointmentRead:
    """Cancel (up to the minimum notice); the slot is freed."""
    return appointment_read(await booking.cancel_by_token(token), settings)


@router.post("/appointments/manage/{token}/reschedule", response_model=AppointmentRead, responses=CHANGE_ERRORS)
async def reschedule(
    token: ManageToken, body: RescheduleUpdate, booking: BookingServiceDep, settings: SettingsDep
) -> AppointmentRead:
    """Move to another free slot; the old one is kept until the new one is held."""
    return appointment_read(await booking.reschedule_by_token(token, day=body.date, at=body.time), settings)
