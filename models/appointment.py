"""Appointments and the slot claims that guard against double booking."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from models.base import Document
from models.enums import AppointmentStatus

# The length of a stored appointment that names none (written by another tool): the shorter visit.
DEFAULT_DURATION_MINUTES: Literal[30, 45] = 30


class Appointment(Document):
    """A booked visit (start stored in UTC)."""

    object_id_fields = ("patient_id", "campaign_id")

    patient_id: str
    campaign_id: str | None = None
    doctor: str
    service: str
    start: datetime
    duration_minutes: Literal[30, 45] = DEFAULT_DURATION_MINUTES
    status: AppointmentStatus = AppointmentStatus.BOOKED
    manage_token_hash: str | None = None
    cancelled_at: datetime | None = None
    sequence: int = 0  # the iCalendar SEQUENCE: every move or status change adds one, so calendars take the update
    created_at: datetime
    updated_at: datetime


class SlotClaim(Document):
    """One 15-minute bucket of one doctor's time, held by one appointment."""

    object_id_fields = ("appointment_id",)

    doctor: str
    bucket_start: datetime
    appointment_id: str
    created_at: datetime | None = None
