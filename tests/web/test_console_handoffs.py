"""The console's handoff queue: staff read the patient's message, edit a suggested reply and answer in the thread once.

Real parts: the app in-process over the test database, SMTP to an aiosmtpd sink, the LLM through the real
ChatOpenAI against the loopback fake OpenAI, Gmail through the real client against the loopback fake Gmail.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.clock import FixedClock
from core.config import Settings
from core.container import Container, build_container
from domain.audit import Actor
from domain.staff_replies import handoff_key
from main import create_app
from models.enums import AuditOutcome, CampaignStatus, Direction, OutboundStatus
from services.gmail.fake_server import FakeGmailServer, write_token_file
from services.llm.fake_server import FakeOpenAI
from services.llm.offline import DRAFT_OPENING
from tests.fakes.smtp import SmtpSink
from tests.support import campaign_ids_linked
from tests.web.conftest import MONDAY_8AM_BERLIN
from tests.web.console import signed_in
from tests.web.handoffs import QUESTION, SUBJECT, SeededHandoff, seed_handoff
from tests.web.pages import Page, html_page

STAFF = "nurse@clinic.test"
EDITED = "Hi Ann,\n\nOf course, bring her along: we will book two chairs side by side.\n\nKind regards,\nRiverside"


@dataclass
class Desk:
    """The app and a signed-in staff client."""

    http: httpx.AsyncClient
    container: Container
    csrf: str

    async def answer_page(self, seeded: SeededHandoff, status: int = 200) -> Page:
        return html_page(await self.http.get(f"/console/handoffs/{seeded.campaign.id}"), status)

    async def send(self, seeded: SeededHandoff, text: str = EDITED, **fields: str) -> httpx.Response:
        data = {"csrf_token": self.csrf, "key": handoff_key(seeded.campaign), "text": text, **fields}
        return await self.http.post(f"/console/handoffs/{seeded.campaign.id}/reply", data=data)


@pytest.fixture
def desk_settings(make_settings: Callable[..., Settings], smtp: SmtpSink) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "CLINIC_NAME": "Riverside Dental",
            "CLINIC_PHONE": "+49 30 1234567",
            "PUBLIC_BASE_URL": "https://clinic.test",
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": smtp.port,
            "SMTP_STARTTLS": False,
            "SMTP_FROM_EMAIL": "desk@clinic.test",
            "OUTREACH_RETRY_DELAYS_SECONDS": "0.01,0.01",
            **overrides,
        }
        return make_settings(**values)

    return build


@pytest.fixture
async def make_desk(desk_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Awaitable[Desk]]]:
    """Start apps (on the fixed Monday clock) over the test's database, each with a signed-in staff client."""
    opened: list[tuple[Any, httpx.AsyncClient, Container]] = []

    async def start(**overrides: Any) -> Desk:
        app = create_app(desk_settings(**overrides), clock=FixedClock(MONDAY_8AM_BERLIN))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        container: Container = app.state.container
        opened.append((lifespan, http, container))
        return Desk(http, container, await signed_in(http, container, STAFF))

    yield start
    for lifespan, http, container in reversed(opened):
        await http.aclose()
        await container.client.drop_database(container.settings.MONGO_DB_NAME)
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def desk(make_desk: Callable[..., Awaitable[Desk]]) -> Desk:
    return await make_desk()


async def audit_actions(container: Container) -> list[tuple[str, str, AuditOutcome]]:
    records, _ = await container.repos.audit.page(skip=0, limit=100, actor=STAFF)
    return [(r.action, r.resource, r.outcome) for r in reversed(records)]


def textarea(page: Page) -> str:
    match = re.search(r'<textarea id="reply-text"[^>]*>(.*?)</textarea>', page.html, re.DOTALL)
    assert match, "the answer form has the reply textarea"
    return match.group(1)


# ---- the queue ----------------------------------------------------------------------------------------------


async def test_the_queue_lists_handoffs_longest_waiting_first_with_what_the_agent_did(desk: Desk) -> None:
    from datetime import timedelta

    newer = await seed_handoff(desk.container, name="Bo Chen", email="bo@example.com", acknowledged=True)
    older = await seed_handoff(desk.container, waiting=timedelta(days=1), reason="auto-reply limit reached")

    page = html_page(await desk.http.get("/console/handoffs"), 200)

    assert page.h1 == "Handoffs" and page.ids["nav-handoffs"].get("aria-current") == "page"
    cards = re.findall(r'<li class="handoff-card" id="handoff-(\w+)">(.*?)</li>', page.html, re.DOTALL)
    assert [campaign_id for campaign_id, _ in cards] == [older.campaign.id, newer.campaign.id]
    first, second = cards[0][1], cards[1][1]
    assert "Ann Lee" in first and "auto-reply limit reached" in first and "The agent did not answer" in first
    assert "2030-12-01 08:00" in first  # a day before Monday 08:00 Berlin, in clinic time
    assert QUESTION[:60] in first and "Recall" in first
    assert "Sent an automatic acknowledgement" in second and "Bo Chen" in second
    assert f"/console/handoffs/{older.campaign.id}" in page.links
    assert ("handoffs.list", "campaigns?status=HANDOFF", AuditOutcome.SUCCESS) in await audit_actions(desk.container)


async def test_the_queue_pages_with_the_pager(desk: Desk) -> None:
    from datetime import timedelta

    for n in range(21):
        await seed_handoff(desk.container, email=f"p{n}@example.com", waiting=timedelta(minutes=100 - n))
    first = html_page(await desk.http.get("/console/handoffs"), 200)
    assert first.html.count('class="handoff-card"') == 20 and "Page 1 of 2" in first.html
    second = html_page(await desk.http.get(first.ids["page-next"]["href"].replace("&amp;", "&")), 200)
    assert second.html.count('class="handoff-card"') == 1 and "Page 2 of 2" in second.html


# ---- the answer page ----------------------------------------------------------------------------------------


async def test_the_answer_page_shows_the_message_and_a_template_reply_without_an_llm(desk: Desk) -> None:
    seeded = await seed_handoff(desk.container)

    page = await desk.answer_page(seeded)

    assert page.h1 == "Answer Ann Lee"
    assert QUESTION in page.html
    assert "The agent did not answer" in page.html and "unsure what the patient wants" in page.html
    assert page.hidden["key"] == handoff_key(seeded.campaign) and page.hidden["csrf_token"] == desk.csrf
    assert '<label for="reply-text">Reply to Ann</label>' in page.html
    draft = textarea(page)
    assert draft.startswith("Hi Ann,\n\n" + DRAFT_OPENING)
    assert draft.endswith("Kind regards,\nRiverside Dental\n+49 30 1234567")
    settings, now = desk.container.settings, desk.container.clock.now()
    assert campaign_ids_linked(draft, settings, now=now) == [seeded.campaign.id]
    assert f"/console/campaigns/{seeded.campaign.id}" in page.links
    assert ("handoffs.read", f"campaigns/{seeded.campaign.id}", AuditOutcome.SUCCESS) in await audit_actions(
        desk.container
    )


async def test_the_template_suggestion_gives_an_approved_answer_to_a_question(desk: Desk) -> None:
    from datetime import UTC, datetime

    from models.base import new_id
    from models.system import KbArticle

    await desk.container.repos.kb_articles.upsert_many(
        [
            KbArticle(
                id=new_id(),
                title="Opening hours",
                answer="We are open Monday to Saturday, 9:00 to 20:30.",
                tags=["hours"],
                updated_at=datetime.now(UTC),
            )
        ]
    )
    seeded = await seed_handoff(desk.container, text="What are your opening hours?")
    draft = textarea(await desk.answer_page(seeded))
    assert "We are open Monday to Saturday, 9:00 to 20:30." in draft


async def test_an_llm_suggestion_is_used_and_an_llm_failure_falls_back_to_the_template(
    make_desk: Callable[..., Awaitable[Desk]], openai: FakeOpenAI
) -> None:
    desk = await make_desk(OPENAI_API_KEY="test", OPENAI_BASE_URL=openai.base_url, LLM_TIMEOUT_SECONDS=5)
    seeded = await seed_handoff(desk.container)
    openai.queue_json({"body": "Of course, you are both welcome. We will book two appointments side by side."})

    page = await desk.answer_page(seeded)

    draft = textarea(page)
    assert draft.startswith("Hi Ann,\n\nOf course, you are both welcome.")
    assert "Suggested by the assistant" in page.html
    assert campaign_ids_linked(draft, desk.container.settings, now=desk.container.clock.now()) == [seeded.campaign.id]
    [request] = openai.requests
    assert request.schema_name == "SuggestedReply"
    assert QUESTION in request.content_of("user") and "ann@example.com" not in request.content_of("user")

    for failure in ("status", "link"):
        if failure == "status":
            openai.queue_status(500, count=2)
        else:
            openai.queue_json({"body": "Book at https://evil.example/now please."})
        fallback = await desk.answer_page(seeded)
        assert textarea(fallback).startswith("Hi Ann,\n\n" + DRAFT_OPENING), failure
        assert "evil.example" not in fallback.html


async def test_an_answered_or_resolved_handoff_is_a_409_page(desk: Desk, smtp: SmtpSink) -> None:
    seeded = await seed_handoff(desk.container)
    admin = desk.container.campaign_admin()
    await admin.resolve_handoff(Actor("other@clinic.test", None), seeded.campaign.id, note="phoned", outcome="engaged")

    page = await desk.answer_page(seeded, 409)
    assert page.h1 == "Already answered or resolved" and "already answered or resolved" in page.html
    sent = html_page(await desk.send(seeded), 409)
    assert sent.h1 == "Already answered or resolved" and smtp.messages == []
    assert html_page(await desk.http.get("/console/handoffs/ffffffffffffffffffffffff"), 404)


async def test_a_malformed_handoff_address_is_a_404_page_that_reads_and_audits_nothing(desk: Desk) -> None:
    before = await desk.container.repos.audit.count()
    for path in ("/console/handoffs/nonsense", "/console/handoffs/" + "a" * 25):
        assert html_page(await desk.http.get(path), 404).h1 == "Page not found"
    form = {"csrf_token": desk.csrf, "text": "Hello", "key": "k"}
    assert html_page(await desk.http.post("/console/handoffs/nonsense/reply", data=form), 404)
    assert await desk.container.repos.audit.count() == before


# ---- sending --------------------------------------------------------------------------------------------------


async def test_sending_answers_in_the_thread_records_it_and_resolves_the_handoff(desk: Desk, smtp: SmtpSink) -> None:
    seeded = await seed_handoff(desk.container)
    desk.container.dashboard_snapshot._stale = False

    response = await desk.send(seeded)

    assert response.status_code == 303 and response.headers["location"] == "/console/handoffs?done=answered"
    [message] = await smtp.arrival(1)
    assert message["To"] == "ann@example.com" and message["Subject"] == f"Re: {SUBJECT}"
    assert message["In-Reply-To"] == seeded.patient_message_id
    assert message["References"].split() == [seeded.outreach_id, seeded.patient_message_id]
    assert message["Auto-Submitted"] is None  # a person wrote it
    assert message.get_content().rstrip("\n") == EDITED
    stored = await desk.container.repos.campaigns.get(seeded.campaign.id)
    assert stored is not None and stored.status == CampaignStatus.ENGAGED
    assert stored.handoff is not None and stored.handoff.resolved_at is not None
    assert stored.handoff.note == f"Answered by email by {STAFF}"
    conversation = await desk.container.repos.interactions.for_campaign(seeded.campaign.id)
    [answer] = [i for i in conversation if i.kind == "staff"]
    assert answer.direction == Direction.OUTGOING and answer.summary == f"Answered by email by {STAFF}"
    assert answer.thread_id == seeded.thread_id and answer.provider_message_id == message["Message-ID"]
    assert answer.body == f"Re: {SUBJECT}\n\n{EDITED}"
    assert desk.container.dashboard_snapshot._stale
    resource = f"campaigns/{seeded.campaign.id}"
    actions = await audit_actions(desk.container)
    assert ("handoffs.reply", resource, AuditOutcome.SUCCESS) in actions
    assert ("campaigns.resolve_handoff.engaged", resource, AuditOutcome.SUCCESS) in actions
    records, _ = await desk.container.repos.audit.page(skip=0, limit=5, actor=STAFF)
    assert {r.patient_id for r in records if r.action == "handoffs.reply"} == {seeded.patient.id}
    queue = html_page(await desk.http.get(response.headers["location"]), 200)
    assert "Your answer was sent" in queue.html
    assert seeded.campaign.id not in queue.html


async def test_a_double_submit_of_the_same_form_sends_once(desk: Desk, smtp: SmtpSink) -> None:
    seeded = await seed_handoff(desk.container)
    assert (await desk.send(seeded)).status_code == 303

    again = html_page(await desk.send(seeded, text="A second, different text"), 409)

    assert f"This handoff was already answered by {STAFF}" in again.html
    await asyncio.sleep(0.2)
    assert len(smtp.messages) == 1


async def test_two_instances_sending_at_once_send_one_email(
    desk: Desk, smtp: SmtpSink, desk_settings: Callable[..., Settings]
) -> None:
    seeded = await seed_handoff(desk.container)
    key = handoff_key(seeded.campaign)
    settings = desk_settings()
    others = [await build_container(settings, clock=FixedClock(MONDAY_8AM_BERLIN)) for _ in range(2)]
    try:
        services = [other.staff_replies() for other in others]
        results = await asyncio.gather(
            *(
                service.send(Actor(f"staff{n}@clinic.test", None), seeded.campaign.id, text=f"Answer {n}", key=key)
                for n, service in enumerate(services)
            ),
            return_exceptions=True,
        )
    finally:
        for other in others:
            await other.close()
    assert sorted(type(r).__name__ for r in results) == ["AlreadyAnswered", "StaffAnswer"], results
    await asyncio.sleep(0.2)
    assert len(smtp.messages) == 1
    conversation = await desk.container.repos.interactions.for_campaign(seeded.campaign.id)
    assert len([i for i in conversation if i.kind == "staff"]) == 1


async def test_a_send_failure_keeps_the_handoff_open_the_text_and_the_claim_retryable(
    desk: Desk, smtp: SmtpSink
) -> None:
    seeded = await seed_handoff(desk.container)
    smtp.reject("ann@example.com", "451 4.3.0 Try again later")

    page = html_page(await desk.send(seeded), 502)

    assert "could not be sent" in page.html and "form-alert" in page.ids
    assert textarea(page) == EDITED
    stored = await desk.container.repos.campaigns.get(seeded.campaign.id)
    assert stored is not None and stored.status == CampaignStatus.HANDOFF
    claim = await desk.container.repos.staff_replies.find_by_key(handoff_key(seeded.campaign))
    assert claim is not None and claim.status == OutboundStatus.FAILED
    resource = f"campaigns/{seeded.campaign.id}"
    assert ("handoffs.reply", resource, AuditOutcome.FAILURE) in await audit_actions(desk.container)
    assert smtp.messages == []

    smtp.accept("ann@example.com")
    assert (await desk.send(seeded)).status_code == 303
    assert len(await smtp.arrival(1)) == 1
    claim = await desk.container.repos.staff_replies.find_by_key(handoff_key(seeded.campaign))
    assert claim is not None and claim.status == OutboundStatus.SENT


@pytest.mark.parametrize("text", ["", "   \n  ", "x" * 5001])
async def test_empty_or_too_long_text_is_a_422_page_with_the_text_kept(desk: Desk, smtp: SmtpSink, text: str) -> None:
    seeded = await seed_handoff(desk.container)

    page = html_page(await desk.send(seeded, text=text), 422)

    assert page.ids["form-alert"] and textarea(page) == text
    assert "Write a reply" in page.html or "at most 5000" in page.html
    stored = await desk.container.repos.campaigns.get(seeded.campaign.id)
    assert stored is not None and stored.status == CampaignStatus.HANDOFF and smtp.messages == []


async def test_a_stale_form_for_an_earlier_handoff_sends_nothing(desk: Desk, smtp: SmtpSink) -> None:
    seeded = await seed_handoff(desk.container)
    page = html_page(await desk.send(seeded, key=f"{seeded.campaign.id}:0"), 409)
    assert "changed since the page was opened" in page.html and smtp.messages == []


async def test_a_post_without_the_csrf_token_is_403_and_sends_nothing(desk: Desk, smtp: SmtpSink) -> None:
    seeded = await seed_handoff(desk.container)

    response = await desk.send(seeded, csrf_token="")
    wrong = await desk.send(seeded, csrf_token="not-the-token")

    assert response.status_code == 403 and wrong.status_code == 403
    html_page(response, 403)
    stored = await desk.container.repos.campaigns.get(seeded.campaign.id)
    assert stored is not None and stored.status == CampaignStatus.HANDOFF
    assert await desk.container.repos.staff_replies.find_by_key(handoff_key(seeded.campaign)) is None
    assert smtp.messages == []


# ---- through Gmail ----------------------------------------------------------------------------------------------


@pytest.fixture
def gmail() -> Iterator[FakeGmailServer]:
    server = FakeGmailServer(email_address="frontdesk@clinic.test")
    server.start()
    yield server
    server.stop()


async def test_with_gmail_the_answer_goes_into_the_patients_gmail_thread_once(
    make_desk: Callable[..., Awaitable[Desk]], gmail: FakeGmailServer, tmp_path: Path, smtp: SmtpSink
) -> None:
    desk = await make_desk(
        GMAIL_TOPIC_NAME="projects/p/topics/t",
        GOOGLE_TOKEN_FILE=write_token_file(tmp_path),
        GMAIL_API_BASE_URL=gmail.url,
        CLINIC_EMAIL="frontdesk@clinic.test",
        PUBSUB_VERIFICATION_TOKEN="push-secret-0123456789",
        GMAIL_MAINTENANCE_ENABLED=False,
    )
    seeded = await seed_handoff(desk.container, thread_id="18c0000000000abc")
    gmail.fail_next_send(count=1, status=503)  # a passing outage: retried like the agent's sends

    assert (await desk.send(seeded)).status_code == 303

    [sent] = gmail.sent
    assert sent.thread_id == "18c0000000000abc" and sent.message["To"] == "ann@example.com"
    assert sent.message["In-Reply-To"] == seeded.patient_message_id
    assert sent.message["Auto-Submitted"] is None and smtp.messages == []
    conversation = await desk.container.repos.interactions.for_campaign(seeded.campaign.id)
    [answer] = [i for i in conversation if i.kind == "staff"]
    assert answer.provider_message_id == sent.id and answer.thread_id == "18c0000000000abc"

    other = await seed_handoff(desk.container, email="cy@example.com", thread_id="18c0000000000def")
    gmail.fail_next_send(count=3, status=500)
    page = html_page(await desk.send(other), 502)
    assert textarea(page) == EDITED and len(gmail.sent) == 1
    stored = await desk.container.repos.campaigns.get(other.campaign.id)
    assert stored is not None and stored.status == CampaignStatus.HANDOFF
