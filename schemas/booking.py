"""Booking and appointment API schemas."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, EmailStr, Field, WithJsonSchema, field_validator

from core.names import PersonName
from core.phone import PhoneInput
from models.enums import AppointmentStatus

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _parse_hhmm(value: object) -> object:
    if isinstance(value, str):
        if not _HHMM.match(value):
            raise ValueError("time must be HH:MM (24-hour), e.g. 09:30")
        return time.fromisoformat(value)
    return value


HHMM = Annotated[
    time,
    BeforeValidator(_parse_hhmm),
    WithJsonSchema({"type": "string", "pattern": _HHMM.pattern, "examples": ["09:30"]}),
]
DURATIONS = (30, 45)
DURATION_SCHEMA = {"enum": list(DURATIONS)}


def allowed_duration(value: int) -> int:
    """Appointments last 30 or 45 minutes."""
    if value not in DURATIONS:
        raise ValueError("duration must be 30 or 45 minutes")
    return value


Duration = Literal[30, 45]


class ServiceRead(BaseModel):
    """A bookable visit type and its length."""

    name: str
    duration_minutes: Duration


class DayRead(BaseModel):
    """One day's free start times."""

    date: date
    slots: list[str]


class AvailabilityRead(BaseModel):
    """Free slots for a doctor."""

    timezone: str
    doctor: str
    duration_minutes: int
    days: list[DayRead]


class BookingCreate(BaseModel):
    """A patient's booking request."""

    name: PersonName
    email: EmailStr
    phone: PhoneInput | None = None
    date: date
    time: HHMM
    duration_minutes: Duration | None = Field(
        default=None, description="the service's duration (GET /api/v1/services); omitted = taken from the service"
    )
    service: str = Field(min_length=1, max_length=100, description="one of GET /api/v1/services (CLINIC_SERVICES)")
    doctor: str | None = Field(default=None, max_length=200)
    campaign_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{24}$")
    campaign_token: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "the `c` value of a campaign booking link (/book?c=...): books for that campaign's patient and converts"
            " exactly that campaign; an invalid or expired token is ignored and the rules above apply"
        ),
    )

    @field_validator("service")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class RescheduleUpdate(BaseModel):
    """A new time for an existing appointment."""

    date: date
    time: HHMM


class AppointmentRead(BaseModel):
    """An appointment as the patient sees it."""

    id: str
    start: datetime
    duration_minutes: int
    doctor: str
    service: str
    status: AppointmentStatus


class BookedRead(AppointmentRead):
    """A new booking with its private manage link."""

    manage_url: str


class StaffAppointmentRead(AppointmentRead):
    """An appointment as staff see it."""

    patient_id: str
    patient_name: str | None = None
    patient_email: str | None = None
    campaign_id: str | None = None
    created_at: datetime


class AppointmentPage(BaseModel):
    """A page of appointments."""

    items: list[StaffAppointmentRead]
    total: int
    page: int
    page_size: int


class AppointmentStatusUpdate(BaseModel):
    """Staff status change."""

    status: Literal["completed", "no_show", "cancelled"]


class SmsSentRead(BaseModel):
    """Result of sending the booking link."""

    status: Literal["sent"] = "sent"
    message_id: str
