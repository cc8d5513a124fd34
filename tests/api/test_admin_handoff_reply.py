"""Answering a handoff over the JSON API: the draft, one threaded email per handoff, errors as JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from core.config import Settings
from core.container import Container
from models.enums import CampaignStatus, Direction, Role
from tests.fakes.smtp import SmtpSink
from tests.web.handoffs import seed_handoff

HANDOFFS = "/api/v1/admin/handoffs"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp: SmtpSink) -> Settings:
    """Replies over SMTP to the loopback sink."""
    return make_settings(
        SMTP_HOST=smtp.host,
        SMTP_PORT=smtp.port,
        SMTP_STARTTLS=False,
        SMTP_FROM_EMAIL="desk@clinic.test",
        PUBLIC_BASE_URL="https://clinic.test",
        OUTREACH_RETRY_DELAYS_SECONDS="0.01,0.01",
    )


@pytest.fixture
async def staff(login: Callable[..., Any]) -> dict[str, str]:
    """Headers of a logged-in staff member."""
    headers: dict[str, str] = await login(Role.STAFF, "desk-api@clinic.test")
    return headers


async def test_draft_then_reply_sends_one_threaded_email_and_resolves_the_handoff(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str], smtp: SmtpSink
) -> None:
    seeded = await seed_handoff(container)
    draft = await client.get(f"{HANDOFFS}/{seeded.campaign.id}/draft", headers=staff)
    assert draft.status_code == 200, draft.text
    body = draft.json()
    assert body["source"] == "template" and body["text"].startswith("Hi Ann") and not body["acknowledged"]

    reply = {"text": "Yes, bring her along: we will book two chairs.", "key": body["key"]}
    first, second = await asyncio.gather(
        client.post(f"{HANDOFFS}/{seeded.campaign.id}/reply", json=reply, headers=staff),
        client.post(f"{HANDOFFS}/{seeded.campaign.id}/reply", json=reply, headers=staff),
    )

    assert sorted([first.status_code, second.status_code]) == [200, 409]
    answered = first if first.status_code == 200 else second
    assert answered.json()["status"] == CampaignStatus.ENGAGED.value
    refused = second if answered is first else first
    assert refused.json()["error"] in ("already_answered", "handoff_closed")
    assert len(smtp.messages) == 1
    sent = smtp.messages[0]
    assert sent["In-Reply-To"] == seeded.patient_message_id and seeded.patient_message_id in sent["References"]
    assert "two chairs" in sent.get_content()
    outgoing = [i for i in await container.repos.interactions.for_campaign(seeded.campaign.id) if i.kind == "staff"]
    assert len(outgoing) == 1 and outgoing[0].direction == Direction.OUTGOING
    assert outgoing[0].summary == "Answered by email by desk-api@clinic.test"


async def test_bad_reply_bodies_and_unknown_handoffs_are_clear_json_errors(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str], smtp: SmtpSink
) -> None:
    seeded = await seed_handoff(container)
    url = f"{HANDOFFS}/{seeded.campaign.id}/reply"

    empty = await client.post(url, json={"text": "", "key": "k"}, headers=staff)
    stale = await client.post(url, json={"text": "Hello", "key": "not-this-handoff"}, headers=staff)
    unknown = await client.get(f"{HANDOFFS}/{'0' * 24}/draft", headers=staff)
    anonymous = await client.post(url, json={"text": "Hello", "key": "k"})

    assert empty.status_code == 422
    assert stale.status_code == 409 and stale.json()["error"] == "handoff_closed"
    assert unknown.status_code == 404 and unknown.json()["error"] == "campaign_not_found"
    assert anonymous.status_code == 401
    assert smtp.messages == []
    campaign = await container.repos.campaigns.get(seeded.campaign.id)
    assert campaign is not None and campaign.status == CampaignStatus.HANDOFF
