"""Exactly once when handling truly overlaps: a held fake Gmail keeps one handler mid-flight while another runs.

The fake Gmail's `hold(route)` parks requests until `release()`, so the overlap is forced, not hoped for; the
test then waits for the other handler to reach its decision (done, or parked too) before letting everything go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.clock import FixedClock, SystemClock
from core.config import Settings
from domain.replies import EVENT_LEASE, REPLY_LEASE, ReplyNotSent
from main import create_app
from models.base import new_id
from models.enums import CampaignStatus, Direction, InboundSource, InboundStatus, OutboundStatus
from models.messaging import InboundEvent
from services.gmail.fake_server import FakeGmailServer
from services.loopback import LiveServer
from tests.agent.conversation import seed_conversation
from tests.agent.gmail_env import Env, reply_from, seed
from tests.support import staff_headers

POLL_SECONDS = 0.01
POLL_ROUNDS = 3000
SWEEP_GRACE = timedelta(minutes=2)  # the sweeper leaves events younger than this (InboxService.sweep)


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
        sync = asyncio.create_task(env.container.inbox().sync())  # one history window with both messages
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


# ---- Gmail messages: each handled once however the handlers overlap ------------------------------------------


def gets_of(gmail: FakeGmailServer, message_id: str) -> int:
    """messages.get requests for one message: each handling of it fetches it once."""
    return sum(r.path.endswith(f"/messages/{message_id}") for r in gmail.requests_to("get"))


async def assert_handled_once(env: Env, campaign_id: str, gmail_id: str) -> None:
    assert gets_of(env.gmail, gmail_id) == 1
    assert len(env.gmail.sent) == 1
    conversation = await env.container.repos.interactions.for_campaign(campaign_id)
    assert [i.provider_message_id for i in conversation if i.direction == Direction.INCOMING] == [gmail_id]
    assert sum(i.kind == "auto_reply" for i in conversation) == 1
    assert await env.container.repos.inbound_events.count({"source": "gmail"}) == 1


async def test_two_instances_syncing_one_history_at_once_handle_the_message_once(
    make_env: Callable[..., Any],
) -> None:
    first: Env = await make_env()
    second: Env = await make_env()  # its own container and database client, on the same database
    campaign, header = await seed(first.container)
    gmail_id, _ = reply_from(first, header, "I would like to book an appointment")
    first.gmail.hold("get")
    try:
        syncs = [asyncio.create_task(env.container.inbox().sync()) for env in (first, second)]
        await held(first.gmail, "get")  # one instance holds the message's lease, mid-handling

        async def other_decided() -> bool:
            return any(s.done() for s in syncs) or first.gmail.held.get("get", 0) == 2

        await until(other_decided)
        first.gmail.release()
        await asyncio.gather(*syncs)
    finally:
        first.gmail.release()
    await assert_handled_once(first, campaign.id, gmail_id)


async def test_different_pubsub_message_ids_announcing_one_message_reply_once(make_env: Callable[..., Any]) -> None:
    first: Env = await make_env()
    second: Env = await make_env()
    campaign, header = await seed(first.container)
    gmail_id, _ = reply_from(first, header, "I would like to book an appointment")
    first.gmail.hold("get")
    try:
        # Pub/Sub redelivers under a new messageId, or two notifications cover one message: each instance gets one.
        a, b = await asyncio.gather(
            first.push(first.gmail.history_id, "pubsub-a"), second.push(first.gmail.history_id, "pubsub-b")
        )
        assert a.status_code == b.status_code == 204
        await held(first.gmail, "get")

        async def other_decided() -> bool:
            pushes = [
                await env.container.repos.inbound_events.find_one(InboundSource.PUBSUB, key)
                for env, key in ((first, "pubsub-a"), (second, "pubsub-b"))
            ]
            done = sum(p is not None and p.status == InboundStatus.DONE for p in pushes)
            return done == 1 or first.gmail.held.get("get", 0) == 2

        await until(other_decided)
        first.gmail.release()
        await first.settle()
        await second.settle()
    finally:
        first.gmail.release()
    await assert_handled_once(first, campaign.id, gmail_id)


async def test_a_live_handler_leaves_a_message_the_sweeper_is_handling(make_env: Callable[..., Any]) -> None:
    env: Env = await make_env()
    campaign, header = await seed(env.container)
    gmail_id, _ = reply_from(env, header, "I would like to book an appointment")
    earlier = env.container.clock.now() - timedelta(minutes=10)
    # Left pending by an instance that crashed mid-handling ten minutes ago.
    await env.container.repos.inbound_events.insert(
        InboundEvent(
            id=new_id(),
            source=InboundSource.GMAIL,
            external_id=gmail_id,
            attempts=1,
            created_at=earlier,
            updated_at=earlier,
        )
    )
    env.gmail.hold("get")
    try:
        sweep = asyncio.create_task(env.container.inbox(owner="sweeper").sweep())
        await held(env.gmail, "get")  # the sweeper holds the message
        live = asyncio.create_task(env.container.inbox(owner="live").sync())  # a push's sync reads it too

        async def live_decided() -> bool:
            return live.done() or env.gmail.held.get("get", 0) == 2

        await until(live_decided)
        env.gmail.release()
        assert await sweep == 1
        await live
    finally:
        env.gmail.release()
    await assert_handled_once(env, campaign.id, gmail_id)


async def test_a_handler_stalled_past_its_lease_is_not_answered_twice(make_env: Callable[..., Any]) -> None:
    stalled: Env = await make_env()
    later_clock = FixedClock(SystemClock().now())
    later: Env = await make_env(clock=later_clock)
    campaign, header = await seed(stalled.container)
    gmail_id, _ = reply_from(stalled, header, "I would like to book an appointment")
    stalled.gmail.hold("send")
    try:
        handler = asyncio.create_task(stalled.container.inbox(owner="stalled").sync())
        await held(stalled.gmail, "send")  # claimed the message and its reply, then hangs in the send
        later_clock.advance(EVENT_LEASE + REPLY_LEASE + SWEEP_GRACE)  # both leases have run out
        sweep = asyncio.create_task(later.container.inbox(owner="sweeper").sweep())

        async def sweeper_decided() -> bool:
            return sweep.done() or stalled.gmail.held.get("send", 0) == 2

        await until(sweeper_decided)
        stalled.gmail.release()
        assert await sweep == 1  # it took the message over (the lease had expired) ...
        await handler
    finally:
        stalled.gmail.release()
    assert len(stalled.gmail.sent) == 1  # ... but not the reply, whose outcome it cannot know
    assert gets_of(stalled.gmail, gmail_id) == 2
    conversation = await stalled.container.repos.interactions.for_campaign(campaign.id)
    assert sum(i.kind == "auto_reply" for i in conversation) == 1
    event = await stalled.container.repos.inbound_events.find_one(InboundSource.GMAIL, gmail_id)
    assert event is not None and event.status == InboundStatus.DONE and event.reply_status == OutboundStatus.SENT


async def test_a_repeat_of_a_message_whose_first_run_failed_runs_it_again(make_env: Callable[..., Any]) -> None:
    env: Env = await make_env()
    campaign, _ = await seed_conversation(env.container, thread_id="thread-1")
    body = {"thread_id": "thread-1", "body": "Can I book for Tuesday?", "message_id": "<p-1@example.com>"}
    env.gmail.fail_next_send(3)  # more than the in-process retries: the first run ends without a reply
    with pytest.raises(ReplyNotSent):
        await env.http.post("/agent/reply", json=body, headers=env.staff)
    again = await env.http.post("/agent/reply", json=body, headers=env.staff)
    assert again.status_code == 200 and again.json()["reply_sent"] is True
    assert len(env.gmail.sent) == 1
    conversation = await env.container.repos.interactions.for_campaign(campaign.id)
    assert sum(i.direction == Direction.INCOMING for i in conversation) == 1
