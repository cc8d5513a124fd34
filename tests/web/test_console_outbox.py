"""The development outbox: without SMTP/Twilio outside production every email and SMS is kept in MongoDB and shown
in the console (text only, working links, headers, the .ics); off when providers are configured and in production.

Real parts: the app in-process over the test database on the fixed Monday clock; the aiosmtpd sink and the Twilio
fake where providers are configured.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.clock import FixedClock
from core.config import Settings
from core.container import Container, build_container
from domain.audit import Actor
from domain.campaign_start import NewCampaign
from domain.outreach import TriggerPatient
from main import create_app
from models.enums import AuditOutcome, CampaignType, Channel, Role
from services.email.port import OutgoingEmail
from services.email.smtp import SmtpEmail
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.support import TEST_JWT_SECRET
from tests.web.conftest import MONDAY_8AM_BERLIN
from tests.web.console import signed_in
from tests.web.pages import Page, html_page

STAFF = "desk@clinic.test"
BASE = "https://clinic.test"
ACTOR = Actor(STAFF, "127.0.0.1")


@dataclass
class Desk:
    """The app and a signed-in staff client."""

    http: httpx.AsyncClient
    container: Container
    csrf: str

    async def page(self, path: str, status: int = 200) -> Page:
        return html_page(await self.http.get(path), status)


@pytest.fixture
async def make_desk(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Awaitable[Desk]]]:
    """Start apps in development (no providers unless given) on the fixed clock, each with a signed-in client."""
    opened: list[tuple[Any, httpx.AsyncClient]] = []

    async def start(**overrides: Any) -> Desk:
        values = {
            "ENVIRONMENT": "development",
            "PUBLIC_BASE_URL": BASE,
            "CLINIC_NAME": "Riverside Dental",
            "SMTP_FROM_EMAIL": "hello@riverside.test",
            "CLINIC_DOCTORS": "Dr. Patel",
            **overrides,
        }
        app = create_app(make_settings(**values), clock=FixedClock(MONDAY_8AM_BERLIN))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        opened.append((lifespan, http))
        container: Container = app.state.container
        return Desk(http, container, await signed_in(http, container, STAFF, role=Role.ADMIN))

    yield start
    for lifespan, http in reversed(opened):
        await http.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def desk(make_desk: Callable[..., Awaitable[Desk]]) -> Desk:
    return await make_desk()


async def start_campaign(desk: Desk, email: str = "ann@example.com") -> str:
    """Start a recovery campaign for a new patient in the console; its id."""
    data = {"csrf_token": desk.csrf, "name": "Ann Lee", "email": email, "campaign_type": "RECOVERY", "channel": "email"}
    response = await desk.http.post("/console/campaigns/new", data=data)
    assert response.status_code == 303, response.text
    match = re.search(r"/console/campaigns/([0-9a-f]{24})", response.headers["location"])
    assert match
    return match.group(1)


def row_ids(page: Page) -> list[str]:
    return re.findall(r'<tr id="row-([0-9a-f]{24})">', page.html)


def link_hrefs(html: str) -> list[str]:
    match = re.search(r'<pre class="message-body" id="message-text">(.*?)</pre>', html, re.DOTALL)
    assert match, "the message's text is shown"
    return re.findall(r'<a href="([^"]+)">', match.group(1))


# ---- kept, not sent -------------------------------------------------------------------------------------------


async def test_outreach_confirmations_replies_and_sms_land_in_the_outbox_collection(desk: Desk) -> None:
    container = desk.container
    campaign_id = await start_campaign(desk)
    [run] = await container.outreach().run_due(limit=10)  # the worker's use case, as a separate process runs it
    assert run.campaign_id == campaign_id

    # A second container over the same database (a separate worker process) sees what this one kept.
    other = await build_container(container.settings)
    try:
        [outreach] = (await other.repos.outbox.page(skip=0, limit=10))[0]
    finally:
        await other.close()
    assert outreach.channel == Channel.EMAIL and outreach.kind == "outreach" and outreach.to == "ann@example.com"
    assert re.fullmatch(r"<[^@<>]+@riverside\.test>", outreach.message_id)
    [logged] = [i for i in await container.repos.interactions.for_campaign(campaign_id) if i.channel == Channel.EMAIL]
    assert logged.message_id_header == outreach.message_id  # replies thread on it as on a real email
    assert f"{BASE}/book?c=" in outreach.text and "List-Unsubscribe" in outreach.headers

    reply_id = await container.reply_sender().send_reply(
        to="ann@example.com",
        subject="Re: your visit",
        text="Thanks, see you Tuesday.",
        thread_id=outreach.message_id,
        in_reply_to=outreach.message_id,
        references=outreach.message_id,
    )
    booked = await desk.http.post(
        "/api/v1/appointments/book",
        json={
            "name": "Ann Lee",
            "email": "ann@example.com",
            "date": "2030-12-03",
            "time": "10:00",
            "duration_minutes": 30,
            "service": "Check-up",
            "campaign_id": campaign_id,
        },
    )
    assert booked.status_code == 201, booked.text
    await container.drain()
    texted = await container.outreach().trigger_new(
        TriggerPatient(name="Bo Chen", phone="+4915112345678", sms_consent=True),
        NewCampaign(campaign_type=CampaignType.RECALL, channel=Channel.SMS),
        actor=ACTOR,
        ignore_quiet_hours=True,
    )
    assert texted.channel == Channel.SMS

    items, total = await container.repos.outbox.page(skip=0, limit=10)
    assert total == 4
    sms, confirmation, reply, first = items  # newest first
    assert first.id == outreach.id
    assert (reply.kind, reply.message_id, reply.headers["In-Reply-To"]) == (
        "automatic reply",
        reply_id,
        outreach.message_id,
    )
    assert confirmation.kind == "confirmation" and [a.filename for a in confirmation.attachments] == ["appointment.ics"]
    assert (sms.channel, sms.kind, sms.to) == (Channel.SMS, "sms", "+4915112345678")
    assert sms.message_id.startswith("SM") and "Reply STOP to opt out." in sms.text


async def test_the_outbox_lists_newest_first_with_channel_time_and_kind(desk: Desk) -> None:
    await start_campaign(desk)
    await desk.container.outreach().run_due(limit=10)
    desk.container.clock.set(MONDAY_8AM_BERLIN + timedelta(minutes=10))  # type: ignore[attr-defined]
    await desk.container.booking().send_booking_link(ACTOR, number="+4915112345678", name="Bo Chen")

    page = await desk.page("/console/outbox")

    assert page.h1 == "Outbox" and page.ids["nav-outbox"].get("aria-current") == "page"
    items, _ = await desk.container.repos.outbox.page(skip=0, limit=10)
    assert row_ids(page) == [m.id for m in items] and len(items) == 2
    sms_row, email_row = re.findall(r'<tr id="row-[0-9a-f]{24}">(.*?)</tr>', page.html, re.DOTALL)
    assert "+4915112345678" in sms_row and "Hi Bo, this is Riverside Dental" in sms_row and ">SMS<" in sms_row
    assert "2030-12-02 08:10" in sms_row and ">sms<" in sms_row  # clinic time (Berlin)
    assert "ann@example.com" in email_row and ">Email<" in email_row and ">outreach<" in email_row
    assert items[1].subject in html.unescape(email_row) and "2030-12-02 08:00" in email_row


async def test_the_outbox_is_paged(desk: Desk) -> None:
    for n in range(26):
        await desk.container.email.send(OutgoingEmail(to=f"p{n}@example.com", subject=f"Message {n}", text="Hello"))

    first, second = await desk.page("/console/outbox"), await desk.page("/console/outbox?page=2")

    assert len(row_ids(first)) == 25 and "Message 25" in first.html and "Page 1 of 2" in first.html
    assert len(row_ids(second)) == 1 and "Message 0" in second.html and second.ids["page-previous"]


# ---- one message ----------------------------------------------------------------------------------------------


async def test_the_message_page_shows_the_text_with_local_links_and_the_headers(desk: Desk) -> None:
    await start_campaign(desk)
    await desk.container.outreach().run_due(limit=10)
    [outreach] = (await desk.container.repos.outbox.page(skip=0, limit=10))[0]

    page = await desk.page(f"/console/outbox/{outreach.id}")

    assert (
        page.h1 == outreach.subject
        and page.ids["message-id"]
        and outreach.message_id in page.html.replace("&lt;", "<").replace("&gt;", ">")
    )
    hrefs = link_hrefs(page.html)
    booking = next(h for h in hrefs if h.startswith("/book?c="))  # PUBLIC_BASE_URL links open on this host
    assert any(h.startswith("/api/v1/unsubscribe/") for h in hrefs) and not any(h.startswith(BASE) for h in hrefs)
    assert (await desk.http.get(booking)).status_code == 200  # the booking page, for this campaign
    assert "List-Unsubscribe" in page.html


async def test_an_email_s_html_is_never_rendered_only_its_text(desk: Desk) -> None:
    await desk.container.email.send(
        OutgoingEmail(
            to="ann@example.com",
            subject="Hello",
            text="Plain words, see https://elsewhere.example/page.",
            html='<p>Rich <script>alert(1)</script><img src="https://tracker.example/x.gif"></p>',
        )
    )
    [kept] = (await desk.container.repos.outbox.page(skip=0, limit=1))[0]

    page = await desk.page(f"/console/outbox/{kept.id}")

    assert "Plain words" in page.html and "<script" not in page.html and "tracker.example" not in page.html
    assert page.ids["html-note"] and link_hrefs(page.html) == ["https://elsewhere.example/page"]


async def test_a_confirmation_shows_its_manage_link_and_its_ics_downloads(desk: Desk) -> None:
    booked = await desk.http.post(
        "/api/v1/appointments/book",
        json={
            "name": "Ann Lee",
            "email": "ann@example.com",
            "date": "2030-12-03",
            "time": "10:00",
            "duration_minutes": 30,
            "service": "Check-up",
        },
    )
    assert booked.status_code == 201, booked.text
    await desk.container.drain()
    [confirmation] = (await desk.container.repos.outbox.page(skip=0, limit=1))[0]

    page = await desk.page(f"/console/outbox/{confirmation.id}")

    manage = booked.json()["manage_url"].removeprefix(BASE)
    assert manage in link_hrefs(page.html) and (await desk.http.get(manage)).status_code == 200
    download = page.ids["attachment-0"]
    assert download["href"] == f"/console/outbox/{confirmation.id}/attachments/0" and "appointment.ics" in page.html
    ics = await desk.http.get(download["href"])
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert ics.headers["content-disposition"] == 'attachment; filename="appointment.ics"'
    assert ics.content.startswith(b"BEGIN:VCALENDAR") and b"TZID=Europe/Berlin:20301203T100000" in ics.content
    assert (await desk.http.get(f"/console/outbox/{confirmation.id}/attachments/1")).status_code == 404


async def test_unknown_and_malformed_messages_are_404_pages(desk: Desk) -> None:
    for path in ("/console/outbox/" + "0" * 24, "/console/outbox/nope", "/console/outbox/nope/attachments/0"):
        await desk.page(path, 404)


async def test_outbox_reads_are_audited_with_the_patient(desk: Desk) -> None:
    await start_campaign(desk)
    await desk.container.outreach().run_due(limit=10)
    [kept] = (await desk.container.repos.outbox.page(skip=0, limit=1))[0]
    patient = await desk.container.repos.patients.get_by_email("ann@example.com")
    assert patient is not None

    await desk.page("/console/outbox")
    await desk.page(f"/console/outbox/{kept.id}")
    await desk.page("/console/outbox/" + "0" * 24, 404)

    records, _ = await desk.container.repos.audit.page(skip=0, limit=100, actor=STAFF)
    outbox = {(r.action, r.resource, r.patient_id, r.outcome) for r in records if "outbox" in r.action}
    assert outbox == {
        ("outbox.list", "outbox", None, AuditOutcome.SUCCESS),
        ("outbox.read", f"outbox/{kept.id}", patient.id, AuditOutcome.SUCCESS),
        ("outbox.read", "outbox/" + "0" * 24, None, AuditOutcome.FAILURE),
    }
    assert all(r.ip == "127.0.0.1" for r in records if "outbox" in r.action)


# ---- off where providers are configured, and in production ---------------------------------------------------


async def test_no_outbox_when_smtp_and_twilio_are_configured(
    make_desk: Callable[..., Awaitable[Desk]], smtp: SmtpSink, twilio: FakeTwilio
) -> None:
    desk = await make_desk(
        SMTP_HOST=smtp.host,
        SMTP_PORT=smtp.port,
        SMTP_STARTTLS=False,
        TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        TWILIO_PHONE_NUMBER="+15550009999",
        TWILIO_API_BASE_URL=twilio.url,
    )
    assert isinstance(desk.container.email, SmtpEmail) and not desk.container.settings.outbox_enabled

    dashboard = await desk.page("/console")
    await desk.page("/console/outbox", 404)
    await start_campaign(desk)
    await desk.container.outreach().run_due(limit=10)

    assert "nav-outbox" not in dashboard.ids and "nav-campaigns" in dashboard.ids
    assert len(smtp.messages) == 1 and await desk.container.repos.outbox.count() == 0


async def test_smtp_without_twilio_keeps_only_sms(make_desk: Callable[..., Awaitable[Desk]], smtp: SmtpSink) -> None:
    desk = await make_desk(SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, SMTP_STARTTLS=False)
    await desk.container.booking().send_booking_link(ACTOR, number="+4915112345678", name="Bo Chen")

    page = await desk.page("/console/outbox")

    assert "nav-outbox" in page.ids and "no provider is configured for\nSMS and calls" in page.html
    assert len(row_ids(page)) == 1


async def test_no_outbox_in_the_test_environment_by_default(container: Container) -> None:
    assert not container.settings.outbox_enabled and container.sms is None


def production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ENVIRONMENT": "production",
        "MONGO_URI": "mongodb://db.internal:27017",
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "PUBLIC_BASE_URL": "https://clinic.example.com",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_production_refuses_to_start_without_smtp() -> None:
    with pytest.raises(ValueError, match="SMTP_HOST is required in production"):
        production()
    configured = production(SMTP_HOST="smtp.example.com")
    dropped = production(EMAIL_BACKEND="disabled")  # said on purpose: mail is dropped, never kept
    assert not configured.outbox_enabled and not dropped.outbox_enabled and not dropped.email_outbox
