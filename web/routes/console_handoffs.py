"""The console's handoff queue: staff answer the patient in the thread."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
