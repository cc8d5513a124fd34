"""App-wide behaviour: security headers, request ids, CORS, error bodies, readiness without a database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from core.config import Settings
from db.embedded import EmbeddedMongo
from main import create_app


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for path in ("/", "/api/v1/auth/me", "/does-not-exist"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in response.headers


PRODUCTION = {
    "ENVIRONMENT": "production",
    "ALLOWED_ORIGINS": "https://admin.example",
    "PUBLIC_BASE_URL": "https://clinic.example",
    "EMAIL_BACKEND": "disabled",
}
DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")
METRICS_TOKEN = "metrics-token-for-the-scraper-0123456789"


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app built from these settings, its lifespan running."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield http


async def test_hsts_only_in_production(make_settings: Callable[..., Any]) -> None:
    async with serve(make_settings(**PRODUCTION)) as http:
        response = await http.get("/")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_docs_are_off_in_production(make_settings: Callable[..., Any]) -> None:
    async with serve(make_settings(**PRODUCTION)) as http:
        for path in DOCS_PATHS:
            response = await http.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "not_found"


async def test_docs_are_on_in_production_with_docs_enabled_and_outside_production(
    make_settings: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    async with serve(make_settings(**PRODUCTION, DOCS_ENABLED=True)) as http:
        assert [(await http.get(p)).status_code for p in DOCS_PATHS] == [200, 200, 200]
    assert [(await client.get(p)).status_code for p in DOCS_PATHS] == [200, 200, 200]


async def test_metrics_are_404_when_disabled(make_settings: Callable[..., Any], client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 200
    async with serve(make_settings(METRICS_ENABLED=False)) as http:
        response = await http.get("/metrics")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


async def test_metrics_token_is_required_when_set(make_settings: Callable[..., Any]) -> None:
    async with serve(make_settings(METRICS_TOKEN=METRICS_TOKEN)) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {METRICS_TOKEN}"}):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["error"] == "invalid_metrics_token"
            assert refused.headers["www-authenticate"] == "Bearer"
        allowed = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert allowed.status_code == 200 and "http_requests_total" in allowed.text


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
