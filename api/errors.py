"""The handlers that render every error as {"error", "detail"}; a body that cannot be parsed is a 400."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import AppError, Unprocessable, error_body

log = logging.getLogger("medcampaign.errors")


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie", "form")]
    return ".".join(parts) or "body"


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    field = exc.field if isinstance(exc, Unprocessable) else None
    extra = {"fields": [{"field": field, "message": exc.detail}]} if field else {}
    return JSONResponse(error_body(exc.error, exc.detail, **extra), status_code=exc.status_code, headers=exc.headers)


def _malformed_json() -> JSONResponse:
    return JSONResponse(error_body("malformed_json", "The request body is not valid JSON"), status_code=400)


def _is_json(request: Request) -> bool:
    """FastAPI reads a body as JSON when it says so, or says nothing."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return not content_type or content_type == "application/json" or content_type.endswith("+json")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return _malformed_json()
    fields = [{"field": _field_name(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in exc.errors()]
    names = ", ".join(dict.fromkeys(f["field"] for f in fields))
    return JSONResponse(error_body("validation_error", f"Invalid input: {names}", fields=fields), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI could not read the body
        if _is_json(request):
            return _malformed_json()  # e.g. bytes that are not UTF-8
        return JSONResponse(error_body("malformed_body", "The request body cannot be parsed"), status_code=400)
    try:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = "http_error"
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=exc.headers)


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable", extra={"error_type": type(exc).__name__})
    return JSONResponse(
        error_body("database_unavailable", "The database is not reachable; try again shortly"),
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", extra={"error_type": type(exc).__name__})
    return JSONResponse(error_body("internal_error", "An unexpected error occurred"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as {"error", "detail"}."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ConnectionFailure, _database_down)
    app.add_exception_handler(Exception, _unexpected)
