"""Request bodies are bounded before they are parsed: 413 from Content-Length, or while a chunked body streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from core.config import DEFAULT_MAX_BODY_BYTES
from core.container import Container
from main import create_app
from services.loopback import LiveServer

BOOK = "/api/v1/appointments/book"
LOGIN = "/api/v1/auth/login"
TWILIO_PATH = "/api/v1/webhooks/twilio/sms"
TWILIO_TOKEN = "twilio-auth-token-for-body-limit-tests"
BASE_URL = "https://clinic.example"
CHUNK = 1024


class Chunks:
    """A request body streamed in 1 KB chunks that counts how many the server pulled."""

    def __init__(self, total: int):
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.total // CHUNK):
            self.pulled += 1
            yield b"x" * CHUNK


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error"] == "payload_too_large" and "limit" in body["detail"]
    assert response.headers["x-content-type-options"] == "nosniff"  # still inside the app's header middleware


async def test_a_declared_body_over_the_limit_is_413_before_any_of_it_is_read(client: httpx.AsyncClient) -> None:
    body = Chunks(1024 * 1024)
    headers = {"Content-Type": "application/json", "Content-Length": str(body.total)}

    response = await client.post(BOOK, content=body, headers=headers)

    assert_too_large(response)
    assert body.pulled == 0


async def test_a_chunked_body_over_the_limit_is_413_once_the_limit_is_passed(client: httpx.AsyncClient) -> None:
    body = Chunks(1024 * 1024)

    response = await client.post(BOOK, content=body, headers={"Content-Type": "application/json"})

    assert_too_large(response)
    assert "content-length" not in response.request.headers  # really streamed, nothing declared
    assert body.pulled <= DEFAULT_MAX_BODY_BYTES // CHUNK + 1  # stopped at the limit, not at the end


async def test_bodies_within_the_limit_are_parsed_as_before(client: httpx.AsyncClient) -> None:
    login = await client.post(LOGIN, data={"username": "nobody@clinic.test", "password": "wrong-password"})
    assert login.status_code == 401
    big_but_allowed = {"name": "x" * (DEFAULT_MAX_BODY_BYTES - 200), "email": "a@example.org"}
    booking = await client.post(BOOK, json=big_but_allowed)
    assert booking.status_code == 422 and booking.json()["error"] == "validation_error"

    async def small() -> AsyncIterator[bytes]:
        yield b"username=nobody%40clinic.test&"
        yield b"password=wrong-password"

    chunked = await client.post(LOGIN, content=small(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert chunked.status_code == 401


async def test_max_body_bytes_setting_sets_the_limit(make_settings: Callable[..., Any]) -> None:
    app = create_app(make_settings(MAX_BODY_BYTES=2048))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        assert_too_large(await http.post(BOOK, json={"name": "x" * 3000}))
        assert (await http.post(BOOK, json={"name": "x" * 1000})).status_code == 422


async def test_a_live_server_answers_413_to_an_oversized_chunked_upload(app: FastAPI) -> None:
    server = LiveServer(app)
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            response = await http.post(BOOK, content=Chunks(256 * 1024), headers={"Content-Type": "application/json"})
    finally:
        server.stop()
    assert_too_large(response)


# ---- the Twilio webhook: bounded to 16 KB, signature checked before anything is recorded ------------------------


@pytest.fixture
async def twilio_app(make_settings: Callable[..., Any]) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    app = create_app(make_settings(TWILIO_AUTH_TOKEN=TWILIO_TOKEN, PUBLIC_BASE_URL=BASE_URL))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http,
    ):
        yield http, app.state.container
        await app.state.container.client.drop_database(app.state.container.settings.MONGO_DB_NAME)


async def post_signed_sms(http: httpx.AsyncClient, body: str) -> httpx.Response:
    form = {"MessageSid": "SM0123456789", "From": "+15551230000", "To": "+15550009999", "Body": body}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(BASE_URL + TWILIO_PATH, form)
    return await http.post(
        TWILIO_PATH,
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )


@pytest.mark.parametrize("size", [20 * 1024, 1024 * 1024])
async def test_a_huge_signed_sms_body_is_413_and_nothing_is_recorded(
    twilio_app: tuple[httpx.AsyncClient, Container], size: int
) -> None:
    http, container = twilio_app

    response = await post_signed_sms(http, "STOP" + " " * size)

    assert_too_large(response)
    assert await container.repos.inbound_events.count() == 0


async def test_a_normal_signed_sms_is_still_recorded(twilio_app: tuple[httpx.AsyncClient, Container]) -> None:
    http, container = twilio_app

    response = await post_signed_sms(http, "STOP")

    assert response.status_code == 200, response.text
    assert await container.repos.inbound_events.count() == 1
