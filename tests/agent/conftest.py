"""Fixtures of the agent tests: outreach settings (SMTP sink, Twilio fake); a fake Gmail and apps wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.clock import Clock
from core.config import Settings
from core.container import Container
from main import create_app
from services.gmail.fake_server import FakeGmailServer, write_token_file
from tests.agent.gmail_env import CLINIC, PUSH_TOKEN, Env
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.support import staff_headers

ALWAYS_OPEN = {"QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00"}


@pytest.fixture
def gmail() -> Iterator[FakeGmailServer]:
    server = FakeGmailServer(email_address=CLINIC)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    return write_token_file(tmp_path)


@pytest.fixture
def gmail_settings(
    make_settings: Callable[..., Settings], gmail: FakeGmailServer, token_file: str
) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "GMAIL_TOPIC_NAME": "projects/p/topics/t",
            "GOOGLE_TOKEN_FILE": token_file,
            "GMAIL_API_BASE_URL": gmail.url,
            "CLINIC_EMAIL": CLINIC,
            "CLINIC_NAME": "Bright Smiles",
            "PUBSUB_VERIFICATION_TOKEN": PUSH_TOKEN,
            "PUBLIC_BASE_URL": "https://clinic.example",
            "OUTREACH_RETRY_DELAYS_SECONDS": "0.01,0.01",
            "GMAIL_MAINTENANCE_ENABLED": False,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


@pytest.fixture
async def make_env(
    gmail_settings: Callable[..., Settings], gmail: FakeGmailServer
) -> AsyncIterator[Callable[..., Any]]:
    """Start apps wired to the fake Gmail (a watch already started); all are shut down after the test."""
    stack: list[Any] = []

    async def start(clock: Clock | None = None, **overrides: Any) -> Env:
        app = create_app(gmail_settings(**overrides), clock=clock)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://clinic.example")
        container: Container = app.state.container
        stack.append((lifespan, http, container))
        staff = await staff_headers(http, container)
        started = await http.post("/gmail/watch/start", headers=staff)
        assert started.status_code == 200, started.text
        return Env(http, container, gmail, staff)

    yield start
    for lifespan, http, container in reversed(stack):
        await http.aclose()
        await container.client.drop_database(container.settings.MONGO_DB_NAME)
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def env(make_env: Callable[..., Any]) -> Env:
    return await make_env()


@pytest.fixture
def outreach_settings(
    make_settings: Callable[..., Settings], smtp: SmtpSink, twilio: FakeTwilio
) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": smtp.port,
            "SMTP_STARTTLS": False,
            "SMTP_FROM_EMAIL": "desk@brightsmiles.test",
            "CLINIC_NAME": "Bright Smiles",
            "CLINIC_ADDRESS": "1 Harbour Road, Springfield",
            "CLINIC_PHONE": "+1-555-000-1234",
            "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
            "TWILIO_PHONE_NUMBER": "+15550009999",
            "TWILIO_API_BASE_URL": twilio.url,
            "PUBLIC_BASE_URL": "https://clinic.example",
            "OUTREACH_RETRY_DELAYS_SECONDS": "0.01,0.01",
            **ALWAYS_OPEN,
        }
        values.update(overrides)
        return make_settings(**values)

    return build
