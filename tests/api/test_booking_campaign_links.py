"""POST /api/v1/appointments/book with a campaign token, and the confirmation email's .ics over real SMTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from core.config import Settings
from core.container import Container
from domain.campaign_links import campaign_token
from main import create_app
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType
from models.patient import Patient
from tests.api.test_booking import bookable_day, booking
from tests.fakes.smtp import SmtpSink

BERLIN = ZoneInfo("Europe/Berlin")
BOOK = "/api/v1/appointments/book"


async def seed(container: Container, *, name: str = "Ann Lee", email: str | None = "ann@example.com") -> Campaign:
    now = container.clock.now()
    patient = Patient(id=new_id(), name=name, email=email, created_at=now, updated_at=now)
    await container.repos.patients.insert(patient)
    campaign = Campaign(
        id=new_id(), patient_id=patient.id, campaign_type=CampaignType.RECALL,
        status=CampaignStatus.ATTEMPTING_RECALL,
        follow_up_details=FollowUpDetails(next_follow_up_at=now + timedelta(days=2)),
        created_at=now - timedelta(days=1), updated_at=now,
    )  # fmt: skip
    await container.repos.campaigns.insert(campaign)
    return campaign


async def status_of(container: Container, campaign: Campaign) -> CampaignStatus:
    stored = await container.repos.campaigns.get(campaign.id)
    assert stored is not None
    return stored.status


async def test_a_campaign_token_attributes_the_booking_whatever_email_is_typed(
    client: httpx.AsyncClient, container: Container
) -> None:
    anns = await seed(container)
    bobs = await seed(container, name="Bob Ray", email="bob@example.com")
    token = campaign_token(container.settings, anns.id, now=container.clock.now())
    response = await client.post(BOOK, json=booking(bookable_day(), email="bob@example.com", campaign_token=token))
    assert response.status_code == 201, response.text
    assert response.json()["manage_url"].startswith("http://localhost:8000/manage/")
    assert await status_of(container, anns) == CampaignStatus.BOOKING_COMPLETED
    assert await status_of(container, bobs) == CampaignStatus.ATTEMPTING_RECALL
    stored = await container.repos.appointments.get(response.json()["id"])
    assert stored is not None and stored.campaign_id == anns.id and stored.patient_id == anns.patient_id


async def test_an_invalid_token_falls_back_to_the_api_rules(client: httpx.AsyncClient, container: Container) -> None:
    anns = await seed(container)
    token = campaign_token(container.settings, anns.id, now=container.clock.now())
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = await client.post(
        BOOK, json=booking(bookable_day(), email="someone@example.com", campaign_token=tampered)
    )
    assert response.status_code == 201
    assert await status_of(container, anns) == CampaignStatus.ATTEMPTING_RECALL
    stored = await container.repos.appointments.get(response.json()["id"])
    assert stored is not None and stored.campaign_id is None and stored.patient_id != anns.patient_id


async def test_an_overlong_token_is_a_422(client: httpx.AsyncClient, container: Container) -> None:
    response = await client.post(BOOK, json=booking(bookable_day(), campaign_token="A" * 65))
    assert response.status_code == 422 and response.json()["error"] == "validation_error"
    assert await container.repos.appointments.count() == 0


# ---- the confirmation over real SMTP --------------------------------------------------------------------------


@pytest.fixture
async def mailing(make_settings: Callable[..., Settings], smtp: SmtpSink) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        CLINIC_NAME="Bright Smiles", CLINIC_ADDRESS="1 Harbour Road", CLINIC_PHONE="+49 30 1234",
        CLINIC_EMAIL="desk@brightsmiles.test", PUBLIC_BASE_URL="https://clinic.example", SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port, SMTP_STARTTLS=False, SMTP_FROM_EMAIL="desk@brightsmiles.test",
    )  # fmt: skip
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


def calendar_of(message: EmailMessage) -> tuple[str, Calendar]:
    """The plain text and the parsed .ics attachment of a confirmation."""
    body = message.get_body(("plain",))
    assert body is not None
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar" and attachment.get_param("method") == "PUBLISH"
    assert attachment.get_filename() == "appointment.ics"
    data = attachment.get_payload(decode=True)
    assert isinstance(data, bytes)
    return body.get_content(), Calendar.from_ical(data)


def local_start(calendar: Calendar) -> datetime:
    [event] = calendar.events
    assert isinstance(event.start, datetime)
    return event.start


async def test_confirmation_carries_the_ics_and_the_manage_page_and_moving_updates_it(
    mailing: httpx.AsyncClient, smtp: SmtpSink
) -> None:
    container: Container = mailing.app.state.container  # type: ignore[attr-defined]
    day = bookable_day()
    response = await mailing.post(BOOK, json=booking(day, "11:30", email="alice@example.com"))
    assert response.status_code == 201
    manage_url = response.json()["manage_url"]
    assert manage_url.startswith("https://clinic.example/manage/")
    await container.drain()
    [message] = smtp.messages
    assert message.get_content_type() == "multipart/mixed" and message["To"] == "alice@example.com"
    text, calendar = calendar_of(message)
    assert manage_url in text and "11:30" in text
    start = local_start(calendar)
    assert start == datetime.combine(day, time(11, 30), tzinfo=BERLIN) and str(start.tzinfo) == "Europe/Berlin"
    [event] = calendar.events
    assert str(event["SUMMARY"]) == "Check-up at Bright Smiles" and str(event["LOCATION"]) == "1 Harbour Road"
    assert "alice" not in calendar.to_ical().decode().lower() and "Pat Doe" not in calendar.to_ical().decode()

    token = manage_url.rsplit("/", 1)[1]
    moved = await mailing.post(
        f"/api/v1/appointments/manage/{token}/reschedule", json={"date": day.isoformat(), "time": "15:00"}
    )
    assert moved.status_code == 200
    await container.drain()
    _, second = smtp.messages
    text, updated = calendar_of(second)
    assert "moved" in text and manage_url in text
    assert local_start(updated) == datetime.combine(day, time(15, 0), tzinfo=BERLIN)
    [before], [after] = calendar.events, updated.events
    assert after["UID"] == before["UID"] and after.sequence > before.sequence


async def test_a_link_booking_is_confirmed_to_the_patient_on_file(mailing: httpx.AsyncClient, smtp: SmtpSink) -> None:
    container: Container = mailing.app.state.container  # type: ignore[attr-defined]
    campaign = await seed(container)
    token = campaign_token(container.settings, campaign.id, now=container.clock.now())
    body: dict[str, Any] = booking(bookable_day(), "10:00", email="typed@example.com", campaign_token=token)
    assert (await mailing.post(BOOK, json=body)).status_code == 201
    await container.drain()
    [message] = smtp.messages
    assert message["To"] == "ann@example.com"
    text, _ = calendar_of(message)
    assert text.startswith("Dear Ann Lee,")
