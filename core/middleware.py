"""Pure-ASGI middleware: request id, security headers, access log and metrics; the request-body size limit."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import error_body
from core.logging import request_id_var

log = logging.getLogger("medcampaign.access")

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency", ["method", "route"])
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
# Swagger UI pages load their assets from a CDN and may be cached, as may the pages' static files (they set their
# own Cache-Control); everything else is an API answer or a page with private data.
_CACHEABLE_PATHS = ("/docs", "/redoc", "/openapi.json", "/static/")


class RequestContextMiddleware:
    """Tags each request with an id, adds security headers, logs one PHI-free access line."""

    def __init__(self, app: ASGIApp, *, hsts: bool):
        self.app = app
        self.security_headers = [*_BASE_HEADERS, _HSTS] if hsts else list(_BASE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        path: str = scope["path"]
        extra_headers = [*self.security_headers, (b"x-request-id", request_id.encode())]
        if not path.startswith(_CACHEABLE_PATHS):
            extra_headers.append((b"cache-control", b"no-store"))

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *extra_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.match(candidate) else None
    return None


def _route_template(scope: Scope) -> str:
    """The matched route's template (never the raw path: it may hold tokens or ids)."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


# The 413 for a path in another shape (the pages answer HTML): (headers, body), or None for the JSON answer.
TooLargeAnswer = Callable[[str, int], tuple[dict[str, str], bytes] | None]


class BodyTooLarge(Exception):
    """Raised into the app when a streamed request body passes its limit (the 413 is already sent)."""


class BodyLimitMiddleware:
    """Answers 413 for a request body over the limit: from Content-Length before reading, or while streaming."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        per_path: Mapping[str, int] | None = None,
        answer: TooLargeAnswer | None = None,
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})  # exact paths that need another limit (an upload, a small webhook)
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.per_path.get(path, self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._send_too_large(send, path, limit)
            return
        received = 0
        started = rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        await self._send_too_large(send, path, limit)
                        rejected = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 is the answer; whatever the app makes of the aborted read is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not rejected:
                raise  # a response had already started: nothing to answer, the connection is dropped

    async def _send_too_large(self, send: Send, path: str, limit: int) -> None:
        custom = self.answer(path, limit) if self.answer else None
        if custom is None:
            detail = f"The request body is larger than the {limit}-byte limit"
            body = json.dumps(error_body("payload_too_large", detail)).encode()
            custom = ({"content-type": "application/json"}, body)
        headers, body = custom
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": raw})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
