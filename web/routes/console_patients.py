"""The console's patients: search, create, edit, consent per channel, CSV import."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
