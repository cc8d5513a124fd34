"""Health, readiness and metrics."""

from __future__ import annotations

import httpx


async def test_root_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200


async def test_metrics_are_prometheus_text_and_not_in_schema(client: httpx.AsyncClient) -> None:
    await client.get("/")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "http_requests_total" in response.text
    schema = (await client.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]
    assert "/" in schema["paths"]


async def test_unknown_route_has_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
