"""BodyLimitMiddleware on its own: the default limit, per-path overrides, and a streamed body cut at the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.middleware import BodyLimitMiddleware


async def echo_size(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def client(*, max_bytes: int, per_path: dict[str, int] | None = None) -> httpx.AsyncClient:
    inner = Starlette(
        routes=[Route("/small", echo_size, methods=["POST"]), Route("/upload", echo_size, methods=["POST"])]
    )
    app = BodyLimitMiddleware(inner, max_bytes=max_bytes, per_path=per_path)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_per_path_limits_override_the_default_both_ways() -> None:
    async with client(max_bytes=100, per_path={"/upload": 1000, "/small": 10}) as http:
        assert (await http.post("/upload", content=b"x" * 1000)).text == "1000"
        assert (await http.post("/upload", content=b"x" * 1001)).status_code == 413
        assert (await http.post("/small", content=b"x" * 10)).text == "10"
        assert (await http.post("/small", content=b"x" * 11)).status_code == 413


async def test_a_stream_exactly_at_the_limit_passes_and_one_byte_more_is_413() -> None:
    async def stream(total: int) -> AsyncIterator[bytes]:
        for _ in range(total):
            yield b"x"

    async with client(max_bytes=50) as http:
        assert (await http.post("/small", content=stream(50))).text == "50"
        over = await http.post("/small", content=stream(51))
        assert over.status_code == 413
        assert over.json() == {
            "error": "payload_too_large",
            "detail": "The request body is larger than the 50-byte limit",
        }
