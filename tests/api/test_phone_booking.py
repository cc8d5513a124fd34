"""The booking-link SMS through the real twilio client and a loopback fake Twilio; confirmation by real SMTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from core.config import Settings
from main import create_app
from models.enums import Role
from tests.api.test_booking import bookable_day, booking
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.support import staff_headers

PATH = "/api/v1/phone_booking_post"


@pytest.fixture
async def http(
    make_settings: Callable[..., Settings], twilio: FakeTwilio, smtp: SmtpSink
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        TWILIO_PHONE_NUMBER="+15550009999",
        TWILIO_API_BASE_URL=twilio.url,
        CLINIC_NAME="Bright Smiles",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port,
        SMTP_STARTTLS=False,
        SMTP_FROM_EMAIL="desk@brightsmiles.test",
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


async def desk(client: httpx.AsyncClient) -> dict[str, str]:
    return await staff_headers(client, client.app.state.container)  # type: ignore[attr-defined]


async def test_sends_booking_link_by_sms(http: httpx.AsyncClient, twilio: FakeTwilio) -> None:
    headers = await desk(http)
    response = await http.get(PATH, params={"number": "+15551234567", "name": "Alice Smith"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "sent" and response.json()["message_id"].startswith("SM")
    [sent] = twilio.messages
    assert sent.form["To"] == "+15551234567" and sent.form["From"] == "+15550009999"
    assert sent.account_sid == DEFAULT_ACCOUNT_SID
    body = sent.form["Body"]
    assert "Hi Alice" in body and "Bright Smiles" in body and "http://localhost:8000/book" in body
    container = http.app.state.container  # type: ignore[attr-defined]
    records, _ = await container.repos.audit.page(skip=0, limit=20, actor="desk@clinic.test")
    assert [(r.action, r.resource) for r in records if r.action.startswith("sms.")] == [("sms.booking_link", "sms")]
    assert body.endswith("Reply STOP to opt out.")


async def test_staff_only(http: httpx.AsyncClient, twilio: FakeTwilio) -> None:
    response = await http.get(PATH, params={"number": "+15551234567", "name": "Alice"})
    assert response.status_code == 401
    assert twilio.messages == []


@pytest.mark.parametrize("number", ["5551234567", "+0123", "+1555abc4567", "+1234567890123456"])
async def test_bad_number_is_422(http: httpx.AsyncClient, twilio: FakeTwilio, number: str) -> None:
    headers = await desk(http)
    response = await http.get(PATH, params={"number": number, "name": "Alice"}, headers=headers)
    assert response.status_code == 422
    assert twilio.messages == []


@pytest.mark.parametrize("failure", ["server_error", "opted_out"])
async def test_twilio_failure_is_502(http: httpx.AsyncClient, twilio: FakeTwilio, failure: str) -> None:
    headers = await desk(http)
    if failure == "server_error":
        twilio.fail_next_with_server_error()
    else:
        twilio.fail_next(status=400, code=21610)
    response = await http.get(PATH, params={"number": "+15551234567", "name": "Alice"}, headers=headers)
    assert response.status_code == 502
    assert response.json() == {
        "error": "sms_failed",
        "detail": "The SMS provider refused or failed to send the message",
    }


async def test_sms_not_configured_is_409(client: httpx.AsyncClient, login: Callable[..., Any]) -> None:
    """An operator's state, not a server error."""
    headers = await login(Role.STAFF)
    response = await client.get(PATH, params={"number": "+15551234567", "name": "Alice"}, headers=headers)
    assert response.status_code == 409 and response.json()["error"] == "sms_not_configured"


async def test_confirmation_email_goes_through_real_smtp(http: httpx.AsyncClient, smtp: SmtpSink) -> None:
    response = await http.post(
        "/api/v1/appointments/book", json=booking(bookable_day(), "11:30", email="alice@example.com")
    )
    assert response.status_code == 201
    await http.app.state.container.drain()  # type: ignore[attr-defined]
    [message] = smtp.messages
    assert isinstance(message, EmailMessage)
    assert message["To"] == "alice@example.com" and "Bright Smiles" in message["Subject"]
    body = message.get_body(("plain",))  # the confirmation is multipart/mixed: text, then the .ics
    assert body is not None
    text = body.get_content()
    assert "11:30" in text and response.json()["manage_url"] in text
