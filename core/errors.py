"""Application errors that carry their HTTP status (api/errors.py renders them); no web framework imported here."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An expected failure with a status, a snake_case code and a human sentence."""

    status_code = 400
    error = "bad_request"

    def __init__(self, detail: str, *, error: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        if error:
            self.error = error
        self.headers = headers


class BadRequest(AppError):
    """400."""


class Unauthorized(AppError):
    """401."""

    status_code = 401
    error = "not_authenticated"

    def __init__(self, detail: str = "Missing or invalid credentials", *, error: str | None = None):
        super().__init__(detail, error=error, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    """403."""

    status_code = 403
    error = "forbidden"


class NotFound(AppError):
    """404."""

    status_code = 404
    error = "not_found"


class Conflict(AppError):
    """409."""

    status_code = 409
    error = "conflict"


class Unprocessable(AppError):
    """422 raised by domain validation; `field` names the offending input (rendered in "fields")."""

    status_code = 422
    error = "validation_error"

    def __init__(self, detail: str, *, error: str | None = None, field: str | None = None):
        super().__init__(detail, error=error)
        self.field = field


class TooManyRequests(AppError):
    """429."""

    status_code = 429
    error = "too_many_requests"


class UpstreamError(AppError):
    """502: an outside service failed."""

    status_code = 502
    error = "upstream_error"


class ServiceUnavailable(AppError):
    """503."""

    status_code = 503
    error = "service_unavailable"


def error_body(error: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The one error body shape of the API."""
    return {"error": error, "detail": detail, **extra}
