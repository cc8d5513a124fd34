"""Exactly once when handling truly overlaps: a held fake Gmail keeps one handler mid-flight while another runs.

The fake Gmail's `hold(route)` parks requests until `release()`, so the overlap is forced, not hoped for; the
test then waits for the other handler to reach its decision (done, or parked too) before letting everything go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from core.config import Settings
from main import create_app
from models.enums import CampaignStatus, Direction, InboundSource
from tests.agent.conversation import seed_conversation
from tests.agent.gmail_env import Env, reply_from, seed
from tests.fakes.gmail import FakeGmailServer
from tests.support import LiveServer, staff_headers

POLL_SECONDS = 0.01
POLL_ROUNDS = 3000


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait until `condition` holds (it always comes true; the bound only turns a hang into a failure)."""
    for _ in range(POLL_ROUNDS):
        if await condition():
            return
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError("condition never came true")


async def held(gmail: FakeGmailServer, route: str, count: int = 1) -> None:
    """Wait until `count` requests to `route` are parked at the fake's hold."""
    await asyncio.to_thread(gmail.wait_held, route, count)


# ---- /agent/reply: a repeated message_id --------------------------------------------------------------------


async def test_concurrent_posts_of_one_message_id_run_the_graph_once(
    make_env: Callable[..., Any],
    gmail_settings: Callable[..., Settings],
    gmail: FakeGmailServer,
    live_server: Callable[..., LiveServer],
) -> None:
    env: Env = await make_env()
    campaign, _ = await seed_conversation(env.container, thread_id="thread-1")
    server = live_server(create_app(gmail_settings()))
    gmail.hold("send")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            headers = await staff_headers(http, env.container)
            body = {"thread_id": "thread-1", "body": "Can I book for Tuesday?", "message_id": "<p-1@example.com>"}
            posts = [asyncio.create_task(http.post("/agent/reply", json=body, headers=headers)) for _ in range(2)]
            await held(gmail, "send")  # the first run is mid-send, its event claimed

            async def both_in() -> bool:
                records, _ = await env.container.repos.audit.page(skip=0, limit=10)
                return sum(r.action == "agent.reply" for r in records) == 2

            await until(both_in)  # the second request is past matching: it would run the graph now
            gmail.release()
            first, second = await asyncio.gather(*posts)
    finally:
        gmail.release()
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["reply_sent"] is True and first.json()["campaign_status"] == "ENGAGED"
    assert len(gmail.sent) == 1
    conversation = await env.container.repos.interactions.for_campaign(campaign.id)
    assert sum(i.direction == Direction.INCOMING for i in conversation) == 1
    assert sum(i.kind == "auto_reply" for i in conversation) == 1
    stored = await env.container.repos.campaigns.get(campaign.id)
    assert stored is not None and stored.status == CampaignStatus.ENGAGED and stored.handoff is None


# ---- the auto-reply caps are part of the claim ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("same_thread", "daily_cap"),
    [(True, 3), (False, 1)],
    ids=["two messages in one thread", "two threads, one reply a day"],
)
async def test_two_messages_handled_at_once_get_one_auto_reply(
    make_env: Callable[..., Any], same_thread: bool, daily_cap: int
) -> None:
    env: Env = await make_env(REPLY_CONCURRENCY=2, REPLY_DAILY_CAP_PER_SENDER=daily_cap)
    campaign, header = await seed_conversation(env.container, thread_id="thread-ann")
    ids = [
        reply_from(env, header, text, thread_id="thread-ann" if same_thread else None)[0]
        for text in ("I would like to book an appointment", "I would like to book an appointment on Wednesday")
    ]
    env.gmail.hold("send")
    try:
        sync = asyncio.create_task(env.container.replies().sync())  # one history window with both messages
        await held(env.gmail, "send")

        async def other_decided() -> bool:
            done = await env.container.repos.inbound_events.finished_ids(InboundSource.GMAIL, ids)
            return len(done) == 1 or env.gmail.held.get("send", 0) == 2

        await until(other_decided)
        env.gmail.release()
        await sync
    finally:
        env.gmail.release()
    assert len(env.gmail.sent) == 1
    conversation = await env.container.repos.interactions.for_campaign(campaign.id)
    assert {i.provider_message_id for i in conversation if i.direction == Direction.INCOMING} == set(ids)
    assert sum(i.kind == "auto_reply" for i in conversation) == 1
    stored = await env.container.repos.campaigns.get(campaign.id)
    assert stored is not None and stored.handoff is not None
    assert stored.handoff.reason == "auto-reply limit reached"


async def test_the_daily_cap_per_patient_hands_the_next_reply_to_staff(make_env: Callable[..., Any]) -> None:
    env: Env = await make_env(REPLY_DAILY_CAP_PER_SENDER=2)
    campaign, header = await seed(env.container)
    service = env.container.replies()
    outcomes = []
    for text in ("Can I book for Tuesday?", "Is Wednesday free?", "What about Thursday?"):
        gmail_id, _ = reply_from(env, header, text)  # each in a thread of its own: only the daily cap applies
        outcome = await service.handle_gmail_message(gmail_id)
        assert outcome is not None
        outcomes.append(outcome)
    assert [o.reply_sent for o in outcomes] == [True, True, False]
    assert len(env.gmail.sent) == 2
    assert outcomes[2].action == "handoff_no_reply" and outcomes[2].campaign_status == CampaignStatus.HANDOFF
    stored = await env.container.repos.campaigns.get(campaign.id)
    assert stored is not None and stored.handoff is not None
    assert stored.handoff.reason == "auto-reply limit reached"
    _, bob_header = await seed(env.container, email="bob@example.com", name="Bob Ray")
    bob_id, _ = reply_from(env, bob_header, "Can I book too?", email="bob@example.com")
    bob = await service.handle_gmail_message(bob_id)
    assert bob is not None and bob.reply_sent is True  # the cap is per patient
