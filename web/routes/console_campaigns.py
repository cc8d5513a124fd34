"""The console's campaigns: the filtered list, a campaign with its patient and conversation, lifecycle actions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
