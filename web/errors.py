"""Errors on page routes are pages: the app's JSON error handlers are wrapped, and page paths answer in HTML."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from core.config import Settings
from core.errors import AppError, NotFound, TooManyRequests
from core.middleware import TooLargeAnswer
from domain.limits import window_start
from web.rendering import PAGE_HEADERS, page, render_html

log = logging.getLogger("medcampaign.web")

Handler = Callable[[Request, Exception], Awaitable[Response]]
# What Starlette keeps in app.exception_handlers (a handler may be sync or async).
AnyHandler = Callable[[Request, Any], Response | Awaitable[Response]]
# Paths the pages own (each matched as itself or followed by "/"); every error under them is an HTML page.
PAGE_PATHS = ("/book", "/manage", "/unsubscribe", "/api/v1/unsubscribe", "/static", "/console")
INVALID_LINK_ERRORS = {"invalid_manage_link", "invalid_unsubscribe_link", "invalid_link"}
# Booking limits are counted in fixed UTC windows (domain/limits.py): retry when the window turns.
RETRY_WINDOWS = {"rate_limited": timedelta(hours=1), "reschedule_limit": timedelta(days=1)}
DATABASE_RETRY_SECONDS = 5


def is_page(path: str) -> bool:
    """True for a path under one of the pages' prefixes."""
    return any(path == p or path.startswith(p + "/") for p in PAGE_PATHS)


def _retry_after(exc: TooManyRequests, now: datetime) -> int:
    given = (exc.headers or {}).get("Retry-After", "")
    if given.isdigit():
        return int(given)
    window = RETRY_WINDOWS.get(exc.error, timedelta(hours=1))
    return max(1, int((window_start(now, window) + window - now).total_seconds()))


def wait_words(seconds: int) -> str:
    if seconds < 90:
        return "in a minute"
    if seconds < 90 * 60:
        return f"in about {round(seconds / 60)} minutes"
    return f"in about {round(seconds / 3600)} hours"


def error_page(
    request: Request, status: int, *, title: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """The friendly error page: what happened, and the clinic's phone (on console paths: the way back in)."""
    path = request.url.path
    console = path == "/console" or path.startswith("/console/")
    return page(
        request,
        "console/error.html" if console else "error.html",
        {"title": title, "message": message, "status": status},
        status_code=status,
        headers=dict(headers or {}),
    )


async def app_error_page(request: Request, exc: Exception) -> Response:
    """An AppError as a page with its status."""
    assert isinstance(exc, AppError)
    if isinstance(exc, NotFound) and exc.error in INVALID_LINK_ERRORS:
        return error_page(
            request,
            404,
            title="This link is not valid",
            message="This link is invalid or has expired. Please call us and we will help you.",
        )
    if isinstance(exc, TooManyRequests):
        seconds = _retry_after(exc, request.app.state.container.clock.now())
        return error_page(
            request,
            429,
            title="Please try again later",
            message=f"{exc.detail.rstrip('.')}. You can try again {wait_words(seconds)}.",
            headers={"Retry-After": str(seconds)},
        )
    title = {404: "Page not found", 403: "Not allowed"}.get(exc.status_code, "Something went wrong")
    return error_page(request, exc.status_code, title=title, message=exc.detail)


async def validation_error_page(request: Request, exc: Exception) -> Response:
    """A request FastAPI could not read (a query or path value of the wrong shape)."""
    assert isinstance(exc, RequestValidationError)
    return error_page(
        request,
        422,
        title="Something in the address is not valid",
        message="This page could not be opened with the values in its address. Please start again from the link.",
    )


async def http_error_page(request: Request, exc: Exception) -> Response:
    """404 and the other HTTP errors (an unknown path, a wrong method, a body that cannot be read)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_page(
            request, 404, title="Page not found", message="There is no page at this address.", headers=exc.headers
        )
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    return error_page(
        request, exc.status_code, title=phrase, message="This request could not be handled.", headers=exc.headers
    )


async def database_down_page(request: Request, exc: Exception) -> Response:
    """The database is unreachable: 503 with Retry-After."""
    log.error("database unavailable", extra={"error_type": type(exc).__name__})
    return error_page(
        request,
        503,
        title="Booking is not available right now",
        message="We cannot reach our booking system at the moment. Please try again in a few minutes.",
        headers={"Retry-After": str(DATABASE_RETRY_SECONDS)},
    )


async def unexpected_page(request: Request, exc: Exception) -> Response:
    """Anything else: 500, logged without the request's content."""
    log.error("unhandled error", extra={"error_type": type(exc).__name__})
    return error_page(
        request, 500, title="Something went wrong", message="Something went wrong on our side. Please try again."
    )


PAGE_HANDLERS: dict[type[Exception], Handler] = {
    AppError: app_error_page,
    RequestValidationError: validation_error_page,
    StarletteHTTPException: http_error_page,
    ConnectionFailure: database_down_page,
    Exception: unexpected_page,
}


def _either(page_handler: Handler, api_handler: AnyHandler | None) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if is_page(request.url.path):
            return await page_handler(request, exc)
        if api_handler is None:
            raise exc
        response = api_handler(request, exc)
        return await response if inspect.isawaitable(response) else response

    return handle


def too_large_answer(settings: Settings) -> TooLargeAnswer:
    """The body limit's 413 as a page on page paths (elsewhere the JSON answer)."""

    def answer(path: str, limit: int) -> tuple[dict[str, str], bytes] | None:
        if not is_page(path):
            return None
        html = render_html(
            "error.html",
            settings,
            {
                "title": "This form is too large",
                "message": "What was sent is larger than we accept. Please go back, shorten it and try again.",
                "status": 413,
            },
        )
        return {"content-type": "text/html; charset=utf-8", **PAGE_HEADERS}, html.encode()

    return answer


def install_page_errors(app: FastAPI) -> None:
    """Answer errors on page paths with HTML; every other path keeps the handler installed before (JSON)."""
    for exc_class, page_handler in PAGE_HANDLERS.items():
        app.add_exception_handler(exc_class, _either(page_handler, app.exception_handlers.get(exc_class)))
