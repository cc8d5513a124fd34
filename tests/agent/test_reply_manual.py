"""/agent/reply on a fresh install (no Gmail): the reply graph answers by SMTP with threading headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.config import Settings
from core.container import Container
from main import create_app
from models.campaign import Campaign
from models.enums import CampaignStatus, Channel, Direction
from tests.agent.conversation import seed_conversation
from tests.fakes.smtp import SmtpSink
from tests.support import campaign_ids_linked, staff_headers, without_campaign_token

OUR_MESSAGE_ID = "<outreach-1@brightsmiles.test>"


@pytest.fixture
async def env(
    make_settings: Callable[..., Settings], smtp: SmtpSink
) -> AsyncIterator[tuple[httpx.AsyncClient, Container, dict[str, str]]]:
    settings = make_settings(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port,
        SMTP_STARTTLS=False,
        SMTP_FROM_EMAIL="desk@brightsmiles.test",
        CLINIC_NAME="Bright Smiles",
        PUBLIC_BASE_URL="https://clinic.example",
        OUTREACH_RETRY_DELAYS_SECONDS="0.01",
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        container: Container = app.state.container
        headers = await staff_headers(http, container)
        yield http, container, headers
        await container.client.drop_database(settings.MONGO_DB_NAME)


async def seed(container: Container) -> Campaign:
    campaign, _ = await seed_conversation(container, thread_id="thread-1", message_id_header=OUR_MESSAGE_ID)
    return campaign


CASES = [
    ("I'd like to book an appointment please", "booking_request", "booking_reply", CampaignStatus.ENGAGED, True),
    ("No thanks, I don't want to book anything.", "service_denial", "thank_you", CampaignStatus.DECLINED, True),
    (
        "Who is this? I don't understand this email.",
        "irrelevant_confused",
        "clarification",
        CampaignStatus.ENGAGED,
        True,
    ),
    ("What are your opening hours?", "question", "kb_answer", CampaignStatus.ENGAGED, True),
    ("Do you treat cats and dogs?", "question", "offer_human_help", CampaignStatus.HANDOFF, True),
    ("Please unsubscribe me", "service_denial", "opt_out", CampaignStatus.DECLINED, False),
]


@pytest.mark.parametrize(("body", "intent", "action", "status", "sends"), CASES)
async def test_each_intent_by_smtp(
    env: tuple[httpx.AsyncClient, Container, dict[str, str]],
    smtp: SmtpSink,
    body: str,
    intent: str,
    action: str,
    status: CampaignStatus,
    sends: bool,
) -> None:
    http, container, headers = env
    campaign = await seed(container)
    response = await http.post(
        "/agent/reply",
        json={"thread_id": "thread-1", "body": body, "message_id": "<patient-1@example.com>"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["intent"], result["action"], result["reply_sent"]) == (intent, action, sends)
    assert result["campaign_status"] == status.value
    stored = await container.repos.campaigns.get(campaign.id)
    assert stored is not None and stored.status == status
    if status == CampaignStatus.ENGAGED:  # the cadence stops; its one next step is the engaged nudge
        assert stored.engaged_at is not None and stored.follow_up_details.nudged_at is None
        nudge_at = stored.engaged_at + timedelta(days=container.settings.ENGAGED_NUDGE_DAYS)
        assert stored.follow_up_details.next_follow_up_at == nudge_at
    else:
        assert stored.follow_up_details.next_follow_up_at is None
    conversation = await container.repos.interactions.for_campaign(campaign.id)
    incoming = [i for i in conversation if i.direction == Direction.INCOMING]
    assert len(incoming) == 1 and incoming[0].intent is not None and incoming[0].intent.value == intent
    if not sends:
        assert smtp.messages == []
        patient = await container.repos.patients.get(campaign.patient_id)
        assert patient is not None and Channel.EMAIL in patient.opted_out_channels
        return
    [message] = smtp.messages
    assert message["To"] == "ann@example.com" and message["Subject"] == "Re: Your message"
    assert message["In-Reply-To"] == "<patient-1@example.com>" and "<patient-1@example.com>" in message["References"]
    assert message["Auto-Submitted"] == "auto-replied"
    text = message.get_content()
    assert text.startswith("Hi Ann,")
    found = {link.rstrip(".,)") for link in re.findall(r"https?://\S+", text)}
    links = {without_campaign_token(link, container.settings, now=container.clock.now()) for link in found}
    assert links <= {"https://clinic.example/book"}
    if action == "kb_answer":
        assert "Monday to Saturday, 9:00 to 20:30" in text
    if action == "booking_reply":
        assert "https://clinic.example/book" in text
        assert campaign_ids_linked(text, container.settings, now=container.clock.now()) == [campaign.id]
    if status == CampaignStatus.HANDOFF:
        assert stored.handoff is not None and stored.handoff.reason
    outgoing = [i for i in conversation if i.direction == Direction.OUTGOING and i.kind == "auto_reply"]
    assert len(outgoing) == 1


async def test_same_message_id_is_answered_with_the_first_outcome_and_caps_per_thread(
    env: tuple[httpx.AsyncClient, Container, dict[str, str]], smtp: SmtpSink
) -> None:
    http, container, headers = env
    campaign = await seed(container)
    body = {"thread_id": "thread-1", "body": "Can I book for Tuesday?", "message_id": "<p-1@example.com>"}
    first = await http.post("/agent/reply", json=body, headers=headers)
    assert first.status_code == 200 and first.json()["reply_sent"] is True
    assert first.json()["campaign_status"] == "ENGAGED"
    again = await http.post("/agent/reply", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    conversation = await container.repos.interactions.for_campaign(campaign.id)
    assert sorted(i.direction.value for i in conversation) == ["incoming", "outgoing", "outgoing"]  # outreach too
    stored = await container.repos.campaigns.get(campaign.id)
    assert stored is not None and stored.status == CampaignStatus.ENGAGED and stored.handoff is None
    other = await http.post("/agent/reply", json={**body, "message_id": "<p-2@example.com>"}, headers=headers)
    # A second auto-reply in the same thread within the hour goes to staff instead.
    assert other.json()["reply_sent"] is False and other.json()["campaign_status"] == "HANDOFF"
    assert len(smtp.messages) == 1
    stored = await container.repos.campaigns.get(campaign.id)
    assert stored is not None and stored.handoff is not None and "limit" in stored.handoff.reason


async def test_a_known_sender_wins_over_a_reused_thread_id(
    env: tuple[httpx.AsyncClient, Container, dict[str, str]], smtp: SmtpSink
) -> None:
    http, container, headers = env
    ann = await seed(container)
    bob, _ = await seed_conversation(container, email="bob@example.com", name="Bob Ray")
    response = await http.post(
        "/agent/reply",
        json={"thread_id": "thread-1", "from": "bob@example.com", "body": "I'd like to book an appointment"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["reply_sent"] is True
    [message] = smtp.messages
    assert message["To"] == "bob@example.com" and message.get_content().startswith("Hi Bob,")
    ann_now, bob_now = await container.repos.campaigns.get(ann.id), await container.repos.campaigns.get(bob.id)
    assert ann_now is not None and ann_now.status == CampaignStatus.ATTEMPTING_RECALL
    assert bob_now is not None and bob_now.status == CampaignStatus.ENGAGED
    ann_incoming = [
        i for i in await container.repos.interactions.for_campaign(ann.id) if i.direction == Direction.INCOMING
    ]
    assert ann_incoming == []
    in_thread = await container.repos.interactions.by_thread("thread-1")
    assert in_thread is not None and in_thread.patient_id == ann.patient_id  # the thread still leads to Ann
    # Staff vouch for what they enter: an opt-out by sender alone is honoured without any mail authentication.
    opt_out = await http.post(
        "/agent/reply",
        json={"thread_id": "thread-1", "from": "bob@example.com", "body": "Please unsubscribe me"},
        headers=headers,
    )
    assert opt_out.json()["action"] == "opt_out"
    ann_patient = await container.repos.patients.get(ann.patient_id)
    bob_patient = await container.repos.patients.get(bob.patient_id)
    assert ann_patient is not None and ann_patient.opted_out_channels == []
    assert bob_patient is not None and Channel.EMAIL in bob_patient.opted_out_channels


async def test_unknown_thread_and_sender_is_404(
    env: tuple[httpx.AsyncClient, Container, dict[str, str]], smtp: SmtpSink
) -> None:
    http, _, headers = env
    response = await http.post("/agent/reply", json={"thread_id": "nope", "body": "hello"}, headers=headers)
    assert response.status_code == 404 and response.json()["error"] == "unknown_sender"
    assert smtp.messages == []


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"thread_id": "t"},
        {"body": "x"},
        {"thread_id": "t", "body": ""},
        {"thread_id": "t", "body": "x", "from": "not-an-email"},
        {"thread_id": "t", "body": "x", "extra": 1},
    ],
)
async def test_bad_reply_bodies_are_422(
    env: tuple[httpx.AsyncClient, Container, dict[str, str]], bad: dict[str, Any]
) -> None:
    http, container, headers = env
    campaign = await seed(container)
    before = len(await container.repos.interactions.for_campaign(campaign.id))
    response = await http.post("/agent/reply", json=bad, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "validation_error"
    # Refused before anything happened: no event, no note, no change to the campaign.
    assert await container.repos.inbound_events.count() == 0
    assert len(await container.repos.interactions.for_campaign(campaign.id)) == before
    stored = await container.repos.campaigns.get(campaign.id)
    assert stored is not None and stored.status == campaign.status


async def test_reply_needs_staff(env: tuple[httpx.AsyncClient, Container, dict[str, str]]) -> None:
    http, _, _ = env
    assert (await http.post("/agent/reply", json={"thread_id": "t", "body": "x"})).status_code == 401


async def test_manual_replies_are_audited_with_the_acting_staff_user(
    env: tuple[httpx.AsyncClient, Container, dict[str, str]],
) -> None:
    http, container, headers = env
    campaign = await seed(container)
    known = {"thread_id": "thread-1", "body": "What are your opening hours?", "message_id": "<m-audit@example.com>"}
    assert (await http.post("/agent/reply", json=known, headers=headers)).status_code == 200
    unknown = {"thread_id": "nobody", "body": "Hello", "from": "stranger@example.com"}
    assert (await http.post("/agent/reply", json=unknown, headers=headers)).status_code == 404
    records, _ = await container.repos.audit.page(skip=0, limit=50, actor="desk@clinic.test")
    replies = sorted((r.resource, r.patient_id, r.outcome.value) for r in records if r.action == "agent.reply")
    assert replies == [("campaigns/" + campaign.id, campaign.patient_id, "success"), ("replies", None, "failure")]
