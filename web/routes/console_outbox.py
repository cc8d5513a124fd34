"""The console's outbox (development): every email and SMS the app would have sent."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
