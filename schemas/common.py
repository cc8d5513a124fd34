"""Shared API schemas: health, the one error body, and the OpenAPI `responses` that document it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"


def any_of_shapes(*shapes: dict[str, str]) -> dict[str, Any]:
    """JSON Schema "one of these shapes": each maps fields to "present" (not null) or "absent" (or null)."""

    def shape(fields: dict[str, str]) -> dict[str, Any]:
        present = [name for name, state in fields.items() if state == "present"]
        return {
            "required": present,
            "properties": {name: {"not": {"type": "null"}} if name in present else {"type": "null"} for name in fields},
        }

    return {"anyOf": [shape(fields) for fields in shapes]}


class StatusRead(BaseModel):
    """Health answer."""

    status: Literal["ok", "ready"]


class FieldErrorRead(BaseModel):
    """One invalid input field of a 422."""

    field: str = Field(description="dotted path of the field, e.g. patient.email; `body` for the whole body")
    message: str


class ErrorRead(BaseModel):
    """The error body of every 4xx/5xx."""

    error: str = Field(description="snake_case code, e.g. slot_unavailable", examples=["validation_error"])
    detail: str = Field(description="a human sentence")
    fields: list[FieldErrorRead] | None = Field(default=None, description="422 from request validation: each field")


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body is not valid JSON (`malformed_json`) or cannot be parsed (`malformed_body`)",
    401: "Missing, invalid or expired bearer token",
    403: "Not allowed",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The body is larger than the limit (`payload_too_large`)",
    422: "Invalid input; `fields` names each invalid field",
    429: "Too many requests; try again later",
    502: "An outside service failed",
    503: "The database is unreachable (`database_unavailable`); retry after `Retry-After` seconds",
}
BODY_ERRORS = (400, 413, 422)


# FastAPI documents a `model` under the route's own media type; an HTML route's errors are JSON all the same.
_RETRY_AFTER = {"headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}}


def error_responses(*codes: int, notes: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` documenting the error body for these status codes (`notes` override descriptions)."""
    described = {**ERROR_DESCRIPTIONS, **(notes or {})}
    body: dict[str, Any] = {"model": ErrorRead}
    return {
        code: {**body, "description": described[code], **(_RETRY_AFTER if code == 503 else {})}
        for code in sorted(set(codes))
    }
