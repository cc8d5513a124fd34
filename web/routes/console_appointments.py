"""The console's appointments: the agenda per doctor, status changes, booking by phone, the booking-link SMS."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
