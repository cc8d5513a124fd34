"""Shared API schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class StatusRead(BaseModel):
    """Health answer."""

    status: str


class ErrorRead(BaseModel):
    """The error body of every 4xx/5xx."""

    error: str
    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` documenting the error body for these status codes."""
    return {code: {"model": ErrorRead} for code in codes}
