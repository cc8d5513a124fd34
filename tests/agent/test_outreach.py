"""The outreach graph and worker end to end: real SMTP server, real twilio client against a loopback fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from twilio.request_validator import RequestValidator

from agent.messages import SMS_OPT_OUT
from core.clock import FixedClock
from core.config import Settings
from core.container import Container, build_container
from db.embedded import free_port
from domain.campaign_links import campaign_booking_url
from main import create_app
from models.appointment import Appointment
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType, Channel, ConsentStatus
from models.patient import ChannelConsent, Consent, Patient
from services.email.port import OutgoingEmail
from services.llm.schemas import SHORT_TEXT_MAX
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.support import campaign_ids_linked, staff_headers


@pytest.fixture
async def stack(outreach_settings: Callable[..., Settings]) -> AsyncIterator[Container]:
    container = await build_container(outreach_settings())
    yield container
    await container.client.drop_database(container.settings.MONGO_DB_NAME)
    await container.close()


GRANTED = ChannelConsent(status=ConsentStatus.GRANTED, source="intake_form")


async def seed(
    container: Container,
    *,
    channel: Channel = Channel.EMAIL,
    phone: str | None = "+15551230000",
    email: str | None = "ann.lee@example.com",
    due: datetime | None = None,
    attempts: int = 0,
    timezone: str | None = None,
    campaign_type: CampaignType = CampaignType.RECALL,
    name: str = "Ann Lee",
) -> Campaign:
    now = container.clock.now()
    patient = Patient(
        id=new_id(),
        name=name,
        email=email,
        phone=phone,
        timezone=timezone,
        consent=Consent(sms=GRANTED, call=GRANTED),
        created_at=now,
        updated_at=now,
    )
    await container.repos.patients.insert(patient)
    campaign = Campaign(
        id=new_id(),
        patient_id=patient.id,
        campaign_type=campaign_type,
        status=CampaignStatus.ATTEMPTING_RECALL
        if campaign_type == CampaignType.RECALL
        else CampaignStatus.ATTEMPTING_RECOVERY,
        channel=channel,
        follow_up_details=FollowUpDetails(attempts_made=attempts, max_attempts=3, next_follow_up_at=due or now),
        created_at=now - timedelta(days=1),
        updated_at=now,
    )
    await container.repos.campaigns.insert(campaign)
    return campaign


async def reload(container: Container, campaign: Campaign) -> Campaign:
    loaded = await container.repos.campaigns.get(campaign.id)
    assert loaded is not None
    return loaded


# ---- one run per channel --------------------------------------------------------------------------------------


async def test_email_run_sends_logs_and_plans(stack: Container, smtp: SmtpSink) -> None:
    campaign = await seed(stack)
    [result] = await stack.outreach().run_due(limit=10)
    assert result.action == "sent" and result.channel == Channel.EMAIL
    [message] = smtp.messages
    assert message["To"] == "ann.lee@example.com"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://clinic.example/api/v1/unsubscribe/") and unsubscribe.endswith(">")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_content()
    assert "https://clinic.example/book" in text and "+1-555-000-1234" in text and "1 Harbour Road" in text
    assert unsubscribe.strip("<>") in text and "Ann" in text
    interactions = await stack.repos.interactions.for_campaign(campaign.id)
    assert len(interactions) == 1 and interactions[0].direction.value == "outgoing"
    assert interactions[0].message_id_header == message["Message-ID"]
    updated = await reload(stack, campaign)
    assert updated.follow_up_details.attempts_made == 1 and updated.lease is None
    assert updated.status == CampaignStatus.ATTEMPTING_RECALL and updated.engagement_summary
    next_at = updated.follow_up_details.next_follow_up_at
    assert next_at is not None and timedelta(days=2) - timedelta(minutes=1) < next_at - stack.clock.now() <= timedelta(
        days=2
    )


async def test_a_first_name_longer_than_the_message_request_allows_is_cut_not_retried(
    stack: Container, smtp: SmtpSink
) -> None:
    campaign = await seed(stack, name="Bartholomew" * 20 + " Lee")
    [result] = await stack.outreach().run_due(limit=10)
    assert result.action == "sent"
    [message] = smtp.messages
    assert ("Hi " + ("Bartholomew" * 20)[:60] + ",") in message.get_content()
    assert (await reload(stack, campaign)).follow_up_details.attempts_made == 1


async def test_each_outreach_email_links_to_booking_with_its_own_campaign(stack: Container, smtp: SmtpSink) -> None:
    ann = await seed(stack)
    bob = await seed(stack, email="bob.ray@example.com", phone="+15551230001", name="Bob Ray")
    results = await stack.outreach().run_due(limit=10)
    assert {r.action for r in results} == {"sent"} and len(smtp.messages) == 2
    for message in smtp.messages:
        campaign = ann if message["To"] == "ann.lee@example.com" else bob
        text = message.get_content()
        # The message body (from the template) and the footer: the same signed link, naming this campaign.
        assert text.count("https://clinic.example/book?c=") == 2
        assert campaign_ids_linked(text, stack.settings, now=stack.clock.now()) == [campaign.id, campaign.id]
        [logged] = await stack.repos.interactions.for_campaign(campaign.id)
        assert campaign_ids_linked(logged.body, stack.settings, now=stack.clock.now()) == [campaign.id]


async def test_the_sms_carries_the_campaign_link(stack: Container, twilio: FakeTwilio) -> None:
    campaign = await seed(stack, channel=Channel.SMS)
    [result] = await stack.outreach().run_due(limit=10)
    assert result.action == "sent"
    [request] = twilio.messages
    body = request.form["Body"]
    assert campaign_ids_linked(body, stack.settings, now=stack.clock.now()) == [campaign.id]
    assert len(body) <= SHORT_TEXT_MAX + len(f" {SMS_OPT_OUT}") and body.endswith(SMS_OPT_OUT)


async def test_sms_run_goes_through_twilio(stack: Container, twilio: FakeTwilio) -> None:
    campaign = await seed(stack, channel=Channel.SMS)
    [result] = await stack.outreach().run_due(limit=10)
    assert result.action == "sent" and result.channel == Channel.SMS
    [request] = twilio.messages
    assert request.form["To"] == "+15551230000" and request.form["From"] == "+15550009999"
    assert (
        request.form["Body"].endswith("Reply STOP to opt out.")
        and "https://clinic.example/book" in request.form["Body"]
    )
    [interaction] = await stack.repos.interactions.for_campaign(campaign.id)
    assert interaction.channel == Channel.SMS and (interaction.provider_message_id or "").startswith("SM")
    assert (await reload(stack, campaign)).follow_up_details.attempts_made == 1


async def test_call_run_speaks_the_message_and_the_clinic_number(stack: Container, twilio: FakeTwilio) -> None:
    campaign = await seed(stack, channel=Channel.CALL, email=None)
    [result] = await stack.outreach().run_due(limit=10)
    assert result.action == "sent" and result.channel == Channel.CALL
    [request] = twilio.calls
    twiml = request.form["Twiml"]
    assert "<Say>" in twiml and "Please call us at +1-555-000-1234" in twiml and "http" not in twiml
    assert request.form["To"] == "+15551230000"
    assert len(await stack.repos.interactions.for_campaign(campaign.id)) == 1


async def test_no_reachable_channel_fails_the_campaign(stack: Container) -> None:
    campaign = await seed(stack, channel=Channel.SMS, email=None, phone=None)
    [result] = await stack.outreach().run_due(limit=10)
    assert result.action == "failed"
    updated = await reload(stack, campaign)
    assert updated.status == CampaignStatus.FAILED and updated.failure_reason


async def test_last_attempt_then_closes_as_failed(stack: Container, smtp: SmtpSink) -> None:
    campaign = await seed(stack, attempts=2)
    await stack.outreach().run_due(limit=10)
    assert len(smtp.messages) == 1
    updated = await reload(stack, campaign)
    assert updated.follow_up_details.attempts_made == 3 and updated.status == CampaignStatus.ATTEMPTING_RECALL
    await stack.repos.campaigns.set_fields(
        campaign.id, {"follow_up_details.next_follow_up_at": stack.clock.now()}, now=stack.clock.now()
    )
    [result] = await stack.outreach().run_due(limit=10)
    assert result.action == "failed" and len(smtp.messages) == 1
    assert (await reload(stack, campaign)).status == CampaignStatus.FAILED


# ---- exactly once under concurrency ---------------------------------------------------------------------------


async def test_three_workers_send_each_of_100_due_campaigns_exactly_once(
    outreach_settings: Callable[..., Settings], smtp: SmtpSink
) -> None:
    settings = outreach_settings()
    workers = [await build_container(settings) for _ in range(3)]
    try:
        for i in range(100):
            await seed(workers[0], email=f"p{i}@example.com")
        runs = await asyncio.gather(*(w.outreach().run_due(limit=1000, concurrency=4) for w in workers))
        assert sum(len(r) for r in runs) == 100
        assert len(smtp.messages) == 100
        assert sorted(m["To"] for m in smtp.messages) == sorted(f"p{i}@example.com" for i in range(100))
        assert await workers[0].repos.outbound_messages.count_by_status() == {"sent": 100}
        again = await asyncio.gather(*(w.outreach().run_due(limit=1000) for w in workers))
        assert sum(len(r) for r in again) == 0 and len(smtp.messages) == 100
    finally:
        await workers[0].client.drop_database(settings.MONGO_DB_NAME)
        for w in workers:
            await w.close()


class StallingEmail:
    """An email port that blocks inside send until released, then really sends."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.sent = 0

    async def send(self, message: OutgoingEmail) -> str:
        self.entered.set()
        await self.release.wait()
        self.sent += 1
        return str(await self.inner.send(message))

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_stalled_worker_loses_its_lease_and_nothing_is_sent_twice(
    outreach_settings: Callable[..., Settings], smtp: SmtpSink
) -> None:
    settings = outreach_settings(OUTREACH_LEASE_SECONDS=5)
    slow_clock = FixedClock(datetime.now(UTC))
    stalled = await build_container(settings, clock=slow_clock)
    other_clock = FixedClock(datetime.now(UTC))
    other = await build_container(settings, clock=other_clock)
    try:
        campaign = await seed(stalled)
        stalling = StallingEmail(stalled.email)
        stalled.email = stalling
        first = asyncio.create_task(stalled.outreach().run_due(limit=1))
        await asyncio.wait_for(stalling.entered.wait(), 10)
        other_clock.advance(timedelta(seconds=6))  # the stalled worker's lease has expired for everyone else
        [reclaimed] = await other.outreach().run_due(limit=1)
        assert reclaimed.action == "sent" and reclaimed.detail == "unknown"  # outcome unknown: never resent
        assert len(smtp.messages) == 0
        slow_clock.advance(timedelta(seconds=6))
        stalling.release.set()
        await first
        # The stalled send was already in flight: it is delivered once, the reclaimer sent nothing.
        assert stalling.sent == 1 and len(smtp.messages) == 1 and smtp.messages[0]["To"] == "ann.lee@example.com"
        updated = await reload(other, campaign)
        assert updated.follow_up_details.attempts_made == 1 and updated.lease is None
        # the late result is what happened, so it replaces the reclaimer's "unknown"
        assert await other.repos.outbound_messages.count_by_status() == {"sent": 1}
    finally:
        await other.client.drop_database(settings.MONGO_DB_NAME)
        await stalled.close()
        await other.close()


# ---- the loops ------------------------------------------------------------------------------------------------


async def test_run_forever_sends_what_becomes_due_and_stops_when_told(
    outreach_settings: Callable[..., Settings], smtp: SmtpSink
) -> None:
    container = await build_container(outreach_settings(WORKER_POLL_SECONDS=0.05))
    stop = asyncio.Event()
    try:
        await seed(container, email="first@example.com")
        worker = asyncio.create_task(container.outreach().run_forever(stop, concurrency=2))
        assert [m["To"] for m in await smtp.arrival(1)] == ["first@example.com"]
        await seed(container, email="second@example.com")  # due while the loop waits for its next poll
        assert [m["To"] for m in await smtp.arrival(2)][1] == "second@example.com"
        assert not worker.done()
        stop.set()
        await asyncio.wait_for(worker, 10)
        assert await container.repos.outbound_messages.count_by_status() == {"sent": 2}
    finally:
        stop.set()
        await container.client.drop_database(container.settings.MONGO_DB_NAME)
        await container.close()


async def test_the_app_runs_the_worker_in_its_lifespan_when_enabled(
    outreach_settings: Callable[..., Settings], smtp: SmtpSink
) -> None:
    settings = outreach_settings(WORKER_ENABLED=True, WORKER_POLL_SECONDS=0.05)
    seeder = await build_container(settings)
    try:
        campaign = await seed(seeder)  # due before the app starts; nobody calls run_due
        app = create_app(settings)
        async with asyncio.timeout(30):  # a hang guard: shutdown must stop the loop, not wait on it forever
            async with app.router.lifespan_context(app):
                [message] = await smtp.arrival(1)
                assert message["To"] == "ann.lee@example.com"
        # the lifespan stopped the loop and closed the container: the exit above returned
        assert len(smtp.messages) == 1
        updated = await reload(seeder, campaign)
        assert updated.follow_up_details.attempts_made == 1 and updated.lease is None
    finally:
        await seeder.client.drop_database(settings.MONGO_DB_NAME)
        await seeder.close()


# ---- failures -------------------------------------------------------------------------------------------------


async def test_smtp_down_is_retried_then_rescheduled_and_sent_later(
    outreach_settings: Callable[..., Settings], smtp: SmtpSink
) -> None:
    down = await build_container(outreach_settings(SMTP_PORT=free_port()))
    up = await build_container(outreach_settings())
    try:
        campaign = await seed(down)
        [result] = await down.outreach().run_due(limit=5)
        assert result.action == "retry_later"
        kept = await reload(down, campaign)
        assert kept.status == CampaignStatus.ATTEMPTING_RECALL and kept.follow_up_details.attempts_made == 0
        retry_at = kept.follow_up_details.next_follow_up_at
        assert retry_at is not None and retry_at - down.clock.now() > timedelta(minutes=29)
        assert await down.repos.outbound_messages.count_by_status() == {"failed": 1}
        await up.repos.campaigns.set_fields(
            campaign.id, {"follow_up_details.next_follow_up_at": up.clock.now()}, now=up.clock.now()
        )
        [later] = await up.outreach().run_due(limit=5)
        assert later.action == "sent" and len(smtp.messages) == 1
        assert await up.repos.outbound_messages.count_by_status() == {"sent": 1}
    finally:
        await up.client.drop_database(up.settings.MONGO_DB_NAME)
        await down.close()
        await up.close()


async def test_twilio_21610_opts_the_number_out_and_falls_back(
    stack: Container, twilio: FakeTwilio, smtp: SmtpSink
) -> None:
    campaign = await seed(stack, channel=Channel.SMS)
    twilio.fail_next(status=400, code=21610)
    [first] = await stack.outreach().run_due(limit=1)
    assert first.action == "retry_later"
    patient = await stack.repos.patients.get(campaign.patient_id)
    assert patient is not None and Channel.SMS in patient.opted_out_channels
    [second] = await stack.outreach().run_due(limit=1)
    assert second.channel == Channel.EMAIL and len(smtp.messages) == 1 and len(twilio.messages) == 1


# ---- re-checks at claim time ----------------------------------------------------------------------------------


async def test_quiet_hours_defer_to_the_patients_morning_on_a_dst_day(
    outreach_settings: Callable[..., Settings],
) -> None:
    from zoneinfo import ZoneInfo

    new_york = ZoneInfo("America/New_York")
    due = datetime(2026, 11, 1, 21, 30, tzinfo=new_york)  # fall-back day in New York; the clinic is in Berlin
    clock = FixedClock(due)
    container = await build_container(
        outreach_settings(QUIET_HOURS_START="08:00", QUIET_HOURS_END="20:00"), clock=clock
    )
    try:
        campaign = await seed(container, timezone="America/New_York", due=due.astimezone(UTC))
        [result] = await container.outreach().run_due(limit=1)
        assert result.action == "deferred"
        deferred = (await reload(container, campaign)).follow_up_details.next_follow_up_at
        assert deferred is not None
        assert deferred.astimezone(new_york) == datetime(2026, 11, 2, 8, 0, tzinfo=new_york)
        assert await container.repos.outbound_messages.count() == 0
        assert await container.outreach().run_due(limit=1) == []  # not due again before the morning
        clock.set(datetime(2026, 11, 2, 8, 0, tzinfo=new_york))
        [sent] = await container.outreach().run_due(limit=1)
        assert sent.action == "sent"
    finally:
        await container.client.drop_database(container.settings.MONGO_DB_NAME)
        await container.close()


async def book_in_five_days(container: Container, campaign: Campaign, *, booked_at: datetime) -> None:
    """An upcoming appointment of the campaign's patient, booked at `booked_at`."""
    await container.repos.appointments.insert(
        Appointment(
            id=new_id(),
            patient_id=campaign.patient_id,
            doctor="Dr. Smith",
            service="Check-up",
            start=container.clock.now() + timedelta(days=5),
            duration_minutes=30,
            created_at=booked_at,
            updated_at=booked_at,
        )
    )


async def test_patient_with_a_future_appointment_is_not_contacted(stack: Container, smtp: SmtpSink) -> None:
    campaign = await seed(stack)
    await book_in_five_days(stack, campaign, booked_at=stack.clock.now())
    [result] = await stack.outreach().run_due(limit=1)
    assert result.action == "converted" and smtp.messages == []
    updated = await reload(stack, campaign)
    assert updated.status == CampaignStatus.BOOKING_COMPLETED and updated.converted_at is not None


async def test_an_appointment_booked_before_the_campaign_fails_it_as_already_booked(
    stack: Container, smtp: SmtpSink
) -> None:
    campaign = await seed(stack)  # created a day ago
    await book_in_five_days(stack, campaign, booked_at=campaign.created_at - timedelta(hours=1))
    [result] = await stack.outreach().run_due(limit=1)
    assert (result.action, result.status) == ("closed", CampaignStatus.FAILED) and smtp.messages == []
    updated = await reload(stack, campaign)
    assert updated.status == CampaignStatus.FAILED and updated.failure_reason == "already_booked"
    assert updated.converted_at is None and updated.follow_up_details.next_follow_up_at is None
    assert updated.follow_up_details.attempts_made == 0 and updated.lease is None
    assert await stack.repos.interactions.for_campaign(campaign.id) == []
    assert await stack.outreach().run_due(limit=1) == []  # closed for good: never due again


# ---- opt-outs through the HTTP endpoints ----------------------------------------------------------------------


@pytest.fixture
async def app_client(outreach_settings: Callable[..., Settings]) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    app = create_app(outreach_settings())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://clinic.example") as http,
    ):
        yield http, app.state.container
        await app.state.container.client.drop_database(app.state.container.settings.MONGO_DB_NAME)


def signed(form: dict[str, str], url: str = "https://clinic.example/api/v1/webhooks/twilio/sms") -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(url, form)}


@pytest.mark.parametrize("word", ["STOP", "stop", "Revoke", "opt out", "please stop texting me"])
async def test_sms_stop_webhook_stops_texts(
    app_client: tuple[httpx.AsyncClient, Container], twilio: FakeTwilio, word: str
) -> None:
    http, container = app_client
    campaign = await seed(container, channel=Channel.SMS, email=None)
    form = {"MessageSid": f"SM{new_id()}", "From": "+15551230000", "To": "+15550009999", "Body": word}
    response = await http.post("/api/v1/webhooks/twilio/sms", data=form, headers=signed(form))
    assert response.status_code == 200 and "<Response>" in response.text
    again = await http.post("/api/v1/webhooks/twilio/sms", data=form, headers=signed(form))
    assert again.status_code == 200
    assert len(await container.repos.interactions.for_campaign(campaign.id)) == 1  # the redelivery did nothing
    [result] = await container.outreach().run_due(limit=1)
    # Texts stop for good; the patient consented to calls, so the next touch is a call.
    assert twilio.messages == [] and result.channel == Channel.CALL and len(twilio.calls) == 1
    patient = await container.repos.patients.get(campaign.patient_id)
    assert patient is not None and patient.opted_out_channels == [Channel.SMS]


async def test_unsigned_or_forged_sms_webhook_is_403(app_client: tuple[httpx.AsyncClient, Container]) -> None:
    http, container = app_client
    campaign = await seed(container, channel=Channel.SMS)
    form = {"MessageSid": "SM1", "From": "+15551230000", "Body": "STOP"}
    assert (await http.post("/api/v1/webhooks/twilio/sms", data=form)).status_code == 403
    forged = signed({**form, "Body": "hello"})
    response = await http.post("/api/v1/webhooks/twilio/sms", data=form, headers=forged)
    assert response.status_code == 403 and response.json()["error"] == "invalid_signature"
    patient = await container.repos.patients.get(campaign.patient_id)
    assert patient is not None and patient.opted_out_channels == []


async def test_unsubscribe_link_stops_emails(app_client: tuple[httpx.AsyncClient, Container], smtp: SmtpSink) -> None:
    http, container = app_client
    campaign = await seed(container, phone=None)
    await container.outreach().run_due(limit=1)
    link = smtp.messages[0]["List-Unsubscribe"].strip("<>")
    path = urlparse(link).path
    page = await http.get(path)
    assert page.status_code == 200 and "<form method='post'>" in page.text
    assert (await container.repos.patients.get(campaign.patient_id)).opted_out_channels == []  # type: ignore[union-attr]
    done = await http.post(
        path, content="List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert done.status_code == 200
    await container.repos.campaigns.set_fields(
        campaign.id, {"follow_up_details.next_follow_up_at": container.clock.now()}, now=container.clock.now()
    )
    [result] = await container.outreach().run_due(limit=1)
    assert len(smtp.messages) == 1 and result.status == CampaignStatus.DECLINED
    assert (await http.get(path[:-3] + "abc")).status_code == 404


# ---- /agent/trigger -------------------------------------------------------------------------------------------


GUIDE_BODY = {
    "patient": {"name": "Alice", "email": "alice@example.com"},
    "campaign": {
        "campaign_type": "RECOVERY",
        "status": "ATTEMPTING_RECOVERY",
        "follow_up_details": {"attempts_made": 0, "max_attempts": 3},
    },
}


async def test_trigger_with_the_product_guide_body(
    app_client: tuple[httpx.AsyncClient, Container], smtp: SmtpSink
) -> None:
    http, container = app_client
    headers = await staff_headers(http, container)
    assert (await http.post("/agent/trigger", json=GUIDE_BODY)).status_code == 401
    response = await http.post("/agent/trigger", json=GUIDE_BODY, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["channel"] == "email" and body["status"] == "ATTEMPTING_RECOVERY" and body["interaction_id"]
    assert body["next_follow_up_at"] is not None
    assert smtp.messages[0]["To"] == "alice@example.com"
    again = await http.post("/agent/trigger", json={"campaign_id": body["campaign_id"]}, headers=headers)
    assert again.status_code == 200 and len(smtp.messages) == 2
    assert await container.repos.patients.count() == 1 and await container.repos.campaigns.count() == 1


async def test_trigger_sms_only_patient_with_consent(
    app_client: tuple[httpx.AsyncClient, Container], twilio: FakeTwilio
) -> None:
    http, container = app_client
    headers = await staff_headers(http, container)
    body = {
        "patient": {"name": "Bo", "phone": "+15557770000", "sms_consent": True},
        "campaign": {"campaign_type": "RECALL", "channel": "sms"},
    }
    first = await http.post("/agent/trigger", json=body, headers=headers)
    assert first.status_code == 200 and first.json()["channel"] == "sms"
    assert [m.form["To"] for m in twilio.messages] == ["+15557770000"]
    again = await http.post("/agent/trigger", json=body, headers=headers)
    assert again.status_code == 200
    assert await container.repos.patients.count() == 1 and await container.repos.campaigns.count() == 1
    campaign = await container.repos.campaigns.get(first.json()["campaign_id"])
    assert campaign is not None
    stored = await container.repos.patients.get(campaign.patient_id)
    assert stored is not None and stored.consent.sms.source == "staff" and stored.consent.sms.by == "desk@clinic.test"


async def test_trigger_is_audited_with_the_acting_staff_user(app_client: tuple[httpx.AsyncClient, Container]) -> None:
    http, container = app_client
    headers = await staff_headers(http, container, email="nurse@clinic.test")
    response = await http.post("/agent/trigger", json=GUIDE_BODY, headers=headers)
    assert response.status_code == 200
    missing = new_id()
    assert (await http.post("/agent/trigger", json={"campaign_id": missing}, headers=headers)).status_code == 404
    records, _ = await container.repos.audit.page(skip=0, limit=50, actor="nurse@clinic.test")
    campaign = await container.repos.campaigns.get(response.json()["campaign_id"])
    assert campaign is not None
    triggers = [(r.resource, r.patient_id, r.outcome.value) for r in records if r.action == "agent.trigger"]
    assert sorted(triggers) == sorted(
        [(f"campaigns/{campaign.id}", campaign.patient_id, "success"), (f"campaigns/{missing}", None, "failure")]
    )


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"patient": {"name": "Alice", "email": "alice@example.com"}},
        {"patient": {"name": "Alice"}, "campaign": {"campaign_type": "RECOVERY"}},
        {"patient": {"name": "Alice", "email": "nope"}, "campaign": {"campaign_type": "RECOVERY"}},
        {**GUIDE_BODY, "campaign": {"campaign_type": "CHECKUP"}},
        {**GUIDE_BODY, "campaign": {"campaign_type": "RECALL", "status": "ATTEMPTING_RECOVERY"}},
        {"campaign_id": "123"},
        {"campaign_id": "a" * 24, **GUIDE_BODY},
    ],
)
async def test_trigger_bad_bodies_are_422(app_client: tuple[httpx.AsyncClient, Container], bad: dict[str, Any]) -> None:
    http, container = app_client
    headers = await staff_headers(http, container)
    response = await http.post("/agent/trigger", json=bad, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "validation_error"
    assert await container.repos.campaigns.count() == 0


async def test_trigger_unknown_or_closed_campaign(app_client: tuple[httpx.AsyncClient, Container]) -> None:
    http, container = app_client
    headers = await staff_headers(http, container)
    assert (await http.post("/agent/trigger", json={"campaign_id": new_id()}, headers=headers)).status_code == 404
    campaign = await seed(container)
    await container.repos.campaigns.set_fields(campaign.id, {"status": "DECLINED"}, now=container.clock.now())
    response = await http.post("/agent/trigger", json={"campaign_id": campaign.id}, headers=headers)
    assert response.status_code == 409 and response.json()["error"] == "campaign_not_attempting"


# ---- with an LLM configured -----------------------------------------------------------------------------------


async def test_llm_writes_the_message_with_only_the_minimum_data(
    outreach_settings: Callable[..., Settings], openai: Any, smtp: SmtpSink
) -> None:
    settings = outreach_settings(OPENAI_API_KEY="test", OPENAI_BASE_URL=openai.base_url)
    clock = FixedClock(datetime.now(UTC))  # the campaign link's token is stamped with this time
    container = await build_container(settings, clock=clock)
    try:
        seeded = await seed(container)
        link = campaign_booking_url(settings, seeded.id, now=clock.now())
        openai.queue_json(
            {
                "subject": "We miss you at Bright Smiles",
                "body": f"Hi Ann, it's time for your check-up. Book here: {link}",
                "short_text": f"Hi Ann, time for a check-up: {link}",
            }
        )
        openai.queue_json({"summary": "One email sent; no reply yet."})
        [result] = await container.outreach().run_due(limit=1)
        assert result.action == "sent"
        [message] = smtp.messages
        assert message["Subject"] == "We miss you at Bright Smiles"
        assert "it's time for your check-up" in message.get_content()
        assert "Unsubscribe" in message.get_content()  # the footer is ours, whatever the model wrote
        prompt = openai.requests[0].content_of("user")
        assert link in prompt and f"Book here: {link}" in message.get_content()  # the model's text went through
        assert "Ann" in prompt and "Lee" not in prompt and "ann.lee@example.com" not in prompt
        assert "+15551230000" not in prompt
        patient = await container.repos.patients.get_by_email("ann.lee@example.com")
        assert patient is not None
        [campaign] = await container.repos.campaigns.list_for_patient(patient.id)
        assert campaign.engagement_summary == "One email sent; no reply yet."
    finally:
        await container.client.drop_database(container.settings.MONGO_DB_NAME)
        await container.close()


@pytest.mark.parametrize("bad", ["foreign_link", "html", "invalid_json", "server_error"])
async def test_invalid_llm_output_falls_back_to_the_template(
    outreach_settings: Callable[..., Settings], openai: Any, smtp: SmtpSink, bad: str
) -> None:
    container = await build_container(outreach_settings(OPENAI_API_KEY="test", OPENAI_BASE_URL=openai.base_url))
    try:
        await seed(container)
        if bad == "foreign_link":
            openai.queue_json(
                {"subject": "Hi", "body": "Book at https://evil.example/book now", "short_text": "https://evil.example"}
            )
        elif bad == "html":
            openai.queue_json(
                {
                    "subject": "Hi",
                    "body": "<b>Book</b> https://clinic.example/book",
                    "short_text": "Book https://clinic.example/book",
                }
            )
        elif bad == "invalid_json":
            openai.queue_raw("{nope")
        else:
            openai.queue_status(500, count=2)
        [result] = await container.outreach().run_due(limit=1)
        assert result.action == "sent"
        [message] = smtp.messages
        text = message.get_content()
        assert "evil.example" not in text and "<b>" not in text
        assert "https://clinic.example/book" in text and "Ann" in text
    finally:
        await container.client.drop_database(container.settings.MONGO_DB_NAME)
        await container.close()
