"""Shared API schemas."""

from __future__ import annotations

from pydantic import BaseModel


class StatusRead(BaseModel):
    """Health answer."""

    status: str


class ErrorRead(BaseModel):
    """The error body of every 4xx/5xx."""

    error: str
    detail: str
