"""App-wide behaviour: security headers, request ids, CORS, error bodies, readiness without a database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from db.embedded import EmbeddedMongo
from main import create_app


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for path in ("/", "/api/v1/auth/me", "/does-not-exist"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in response.headers


async def test_hsts_only_in_production(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(ENVIRONMENT="production", ALLOWED_ORIGINS="https://admin.example")
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get("/")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = await client.get("/", headers={"X-Request-ID": "bad id with spaces\t"})
    assert generated.headers["x-request-id"] != "bad id with spaces\t"
    assert len(generated.headers["x-request-id"]) == 32


async def test_cors_allows_only_configured_origins(client: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "GET"}
    allowed = await client.options("/", headers={"Origin": "http://localhost:3000", **preflight})
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    denied = await client.options("/", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in denied.headers


async def test_wildcard_origin_never_sends_credentials(make_settings: Callable[..., Any]) -> None:
    app = create_app(make_settings(ALLOWED_ORIGINS="*"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        response = await http.get("/", headers={"Origin": "https://any.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_method_not_allowed_has_error_body(client: httpx.AsyncClient) -> None:
    response = await client.delete("/")
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed", "detail": "Method Not Allowed"}


async def test_readyz_is_503_when_the_database_stops(make_settings: Callable[..., Any], tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path / "db", log_path=tmp_path / "db.log")
    uri = server.start()
    try:
        app = create_app(make_settings(MONGO_URI=uri, MONGO_TIMEOUT_MS=500))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            assert (await http.get("/readyz")).status_code == 200
            server.stop()
            response = await http.get("/readyz")
            assert response.status_code == 503
            assert response.json()["error"] == "database_unavailable"
            assert (await http.get("/")).status_code == 200
    finally:
        server.stop()
