"""The console's users (admins only): create staff, reset a password, deactivate."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
