"""Inbound email pipeline: Pub/Sub push → history sync → each Gmail message exactly once → the reply graph.

Every Gmail message id is recorded under a unique key before anything else happens, so duplicate pushes,
overlapping history windows and concurrent workers lead to one reply. The history cursor only moves forward
and only after the last page of a window was handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, NotFound, UpstreamError
from db.repositories import Repositories
from domain.audit import Actor, AuditTrail
from email_reply_agent.context import ReplyContext, ReplySender
from email_reply_agent.nodes.send_email import ReplyNotSent
from email_reply_agent.state import InboundEmail, ReplyState
from models.base import new_id
from models.campaign import Campaign, Lease
from models.enums import AuditOutcome, CampaignStatus, InboundSource, InboundStatus, Intent
from models.interaction import Interaction
from models.messaging import InboundEvent
from models.patient import Patient
from services.email.port import EmailPort, OutgoingEmail
from services.gmail.auth_results import from_domain_authenticated
from services.gmail.port import GmailError, GmailMessage, GmailPort, HistoryGone
from services.gmail.push import PushNotice
from services.llm.port import LLMPort

log = logging.getLogger("medcampaign.replies")

EVENT_LEASE = timedelta(minutes=5)
REPLY_LEASE = timedelta(minutes=2)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# A repeated /agent/reply arriving while the first run is still going waits this long for its outcome.
MANUAL_WAIT_SECONDS = 0.05
MANUAL_WAIT_ROUNDS = 600


@dataclass(frozen=True)
class Match:
    """Whose message this is, and how we know."""

    patient: Patient | None
    campaign: Campaign | None
    # True when the message answers one we sent (its Gmail thread, In-Reply-To or References); False when only
    # its From address, which anyone can write, names the patient.
    by_our_message: bool = False
    # The given thread belongs to another patient's conversation (staff entry with a known sender).
    foreign_thread: bool = False


NO_MATCH = Match(None, None)


@dataclass(frozen=True)
class ReplyOutcome:
    """What happened to one incoming email."""

    intent: Intent | None
    action: str
    reply_sent: bool
    campaign_status: CampaignStatus | None
    skipped: str | None = None
    record: dict[str, Any] | None = None  # kept on the inbound event for staff (e.g. an unknown sender)


def _outcome_fields(outcome: ReplyOutcome) -> dict[str, Any]:
    return {
        "intent": outcome.intent.value if outcome.intent else None,
        "action": outcome.action,
        "reply_sent": outcome.reply_sent,
        "campaign_status": outcome.campaign_status.value if outcome.campaign_status else None,
    }


def _stored_outcome(event: InboundEvent) -> ReplyOutcome:
    """The outcome kept on a finished event (events from before outcomes were kept: nothing done)."""
    fields = (event.payload or {}).get("outcome")
    if not isinstance(fields, dict):
        return ReplyOutcome(None, "duplicate", False, None)
    return ReplyOutcome(
        intent=Intent(fields["intent"]) if fields.get("intent") else None,
        action=str(fields["action"]),
        reply_sent=bool(fields["reply_sent"]),
        campaign_status=CampaignStatus(fields["campaign_status"]) if fields.get("campaign_status") else None,
    )


class GmailReplies:
    """Replies through Gmail, in the thread."""

    def __init__(self, gmail: GmailPort):
        self.gmail = gmail

    async def send_reply(
        self, *, to: str, subject: str, text: str, thread_id: str, in_reply_to: str | None, references: str | None
    ) -> str:
        """users.messages.send with threadId and threading headers."""
        return await self.gmail.send_reply(
            thread_id=thread_id,
            to=to,
            subject=subject,
            text=text,
            in_reply_to=in_reply_to,
            references=references,
            extra_headers={"Auto-Submitted": "auto-replied"},
        )


class SmtpReplies:
    """Replies by SMTP with the same threading headers (when Gmail is not configured)."""

    def __init__(self, email: EmailPort):
        self.email = email

    async def send_reply(
        self, *, to: str, subject: str, text: str, thread_id: str, in_reply_to: str | None, references: str | None
    ) -> str:
        """Send with In-Reply-To / References so mail clients thread it."""
        headers = {"Auto-Submitted": "auto-replied"}
        if in_reply_to:
            headers["In-Reply-To"] = in_reply_to
        if references:
            headers["References"] = references
        return await self.email.send(OutgoingEmail(to=to, subject=subject, text=text, headers=headers))


def skip_reason(message: GmailMessage, *, own_address: str) -> str | None:
    """Why a message must not get an automatic reply (mail loops, bulk mail, bounces), else None."""
    headers = message.headers
    labels = set(message.label_ids)
    if labels & {"SENT", "DRAFT"}:
        return "own_or_draft"
    if own_address and message.from_address.lower() == own_address.lower():
        return "from_us"
    if headers.get("auto-submitted", "no").strip().lower() != "no":
        return "auto_submitted"
    if "x-auto-response-suppress" in headers:
        return "auto_response_suppressed"
    if "list-id" in headers or "list-unsubscribe" in headers:
        return "mailing_list"
    if headers.get("precedence", "").strip().lower() in ("bulk", "list", "junk"):
        return "bulk"
    if "return-path" in headers and headers["return-path"].strip() in ("", "<>"):
        return "null_return_path"
    if message.is_bounce:
        return "bounce"
    return None


class Coalescer:
    """Runs one job at a time; calls that arrive meanwhile make the running job go once more, then return."""

    def __init__(self) -> None:
        self._running = False
        self._again = False

    async def run(self, job: Callable[[], Awaitable[Any]]) -> None:
        """Run `job`, or have the run in progress repeat it."""
        if self._running:
            self._again = True
            return
        self._running = True
        try:
            while True:
                self._again = False
                await job()
                if not self._again:
                    return
        finally:
            self._running = False


class ReplyService:
    """Matches incoming mail to patients and runs the reply graph, exactly once per message."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        repos: Repositories,
        llm: LLMPort,
        templates: LLMPort,
        graph: Any,
        sender: ReplySender,
        gmail: GmailPort | None,
        open_slots: Any,
        knowledge_base: Any,
        owner: str | None = None,
        coalescer: Coalescer | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.audit = AuditTrail(repo=repos.audit, clock=clock)
        self.graph = graph
        self.gmail = gmail
        self.owner = owner or f"replies-{uuid.uuid4().hex[:12]}"
        self.coalescer = coalescer or Coalescer()
        self.context = ReplyContext(
            settings=settings,
            clock=clock,
            repos=repos,
            llm=llm,
            templates=templates,
            sender=sender,
            open_slots=open_slots,
            knowledge_base=knowledge_base,
            owner=self.owner,
            reply_lease=REPLY_LEASE,
        )

    @property
    def mailbox(self) -> str:
        """Our own address."""
        return self.settings.CLINIC_EMAIL.lower()

    # ---- matching -------------------------------------------------------------------------------------------

    async def _our_message(
        self, *, thread_id: str, references: str | None, in_reply_to: str | None
    ) -> Interaction | None:
        """The latest interaction of ours this message answers: by Gmail thread, else by In-Reply-To/References."""
        interactions = self.repos.interactions
        known = await interactions.by_thread(thread_id) if thread_id else None
        if known is None:
            ids = _MESSAGE_ID.findall(" ".join(r for r in (in_reply_to, references) if r))
            known = await interactions.by_message_ids(ids)
        return known if known is not None and known.patient_id else None

    async def _campaign_of(self, patient: Patient, known: Interaction | None) -> Campaign | None:
        """The campaign of the message answered (when it was this patient's), else the patient's active one."""
        if known is not None and known.patient_id == patient.id and known.campaign_id:
            campaign = await self.repos.campaigns.get(known.campaign_id)
            if campaign is not None:
                return campaign
        return await self.repos.campaigns.latest_active_for_patient(patient.id)

    async def match(
        self,
        *,
        thread_id: str,
        from_address: str | None,
        references: str | None,
        in_reply_to: str | None,
        sender_first: bool = False,
    ) -> Match:
        """The patient and campaign of a message: by a message of ours it answers, else by the sender's address.

        `sender_first` (staff-entered replies): a sender who is a known patient wins over the thread, so a reused
        thread id never carries one patient's message into another patient's conversation.
        """
        sender = await self.repos.patients.get_by_email(from_address) if sender_first and from_address else None
        known = await self._our_message(thread_id=thread_id, references=references, in_reply_to=in_reply_to)
        if sender is not None:
            ours = known is not None and known.patient_id == sender.id
            campaign = await self._campaign_of(sender, known)
            return Match(sender, campaign, by_our_message=ours, foreign_thread=known is not None and not ours)
        if known is not None and known.patient_id:
            patient = await self.repos.patients.get(known.patient_id)
            if patient is not None:
                return Match(patient, await self._campaign_of(patient, known), by_our_message=True)
        if from_address and not sender_first:
            patient = await self.repos.patients.get_by_email(from_address)
            if patient is not None:
                return Match(patient, await self.repos.campaigns.latest_active_for_patient(patient.id))
        return NO_MATCH

    # ---- one message ----------------------------------------------------------------------------------------

    async def run_graph(self, inbound: InboundEmail, match: Match) -> ReplyOutcome:
        """Run the reply graph for a matched message."""
        state: ReplyState = {"inbound": inbound, "patient": match.patient, "campaign": match.campaign}
        final: ReplyState = await self.graph.ainvoke(state, context=self.context)
        return ReplyOutcome(
            intent=final.get("intent"),
            action=final["action"],
            reply_sent=bool(final.get("reply_sent")),
            campaign_status=final.get("campaign_status"),
        )

    def _leased_event(self, source: InboundSource, external_id: str) -> InboundEvent:
        """A new inbound event, recorded already leased to this handler (one write instead of insert + claim)."""
        now = self.clock.now()
        return InboundEvent(
            id=new_id(),
            source=source,
            external_id=external_id,
            attempts=1,
            lease=Lease(owner=self.owner, until=now + EVENT_LEASE),
            lease_until=now + EVENT_LEASE,
            created_at=now,
            updated_at=now,
        )

    async def handle_gmail_message(self, message_id: str) -> ReplyOutcome | None:
        """Record the Gmail message id first, then (once) filter, match and reply. None when already handled."""
        events = self.repos.inbound_events
        fresh = self._leased_event(InboundSource.GMAIL, message_id)
        # The first delivery records the id already leased to us (one write); later ones must claim it.
        if await events.record(fresh):
            event: InboundEvent | None = fresh
        else:
            event = await events.claim(
                source=InboundSource.GMAIL,
                external_id=message_id,
                owner=self.owner,
                now=fresh.created_at,
                ttl=EVENT_LEASE,
            )
        if event is None:
            return None  # done, skipped, or being handled by someone else right now
        try:
            outcome = await self._handle_claimed(event, message_id)
        except ReplyNotSent as exc:
            await events.release(event.id, owner=self.owner, error=str(exc), now=self.clock.now())
            raise
        except BaseException as exc:
            await events.release(event.id, owner=self.owner, error=type(exc).__name__, now=self.clock.now())
            raise
        status = InboundStatus.SKIPPED if outcome.skipped else InboundStatus.DONE
        await events.finish(
            event.id,
            owner=self.owner,
            status=status,
            now=self.clock.now(),
            reason=outcome.skipped,
            payload=outcome.record,
        )
        return outcome

    async def _handle_claimed(self, event: InboundEvent, message_id: str) -> ReplyOutcome:
        assert self.gmail is not None
        message = await self.gmail.get_message(message_id)
        reason = skip_reason(message, own_address=self.mailbox)
        if reason is None and self.settings.GMAIL_PROCESS_REPLIES_ONLY and not await self._ours(message):
            reason = "not_a_reply_to_us"
        if reason:
            return ReplyOutcome(None, "skipped", False, None, skipped=reason)
        match = await self.match(
            thread_id=message.thread_id,
            from_address=message.from_address,
            references=message.references,
            in_reply_to=message.in_reply_to,
        )
        if match.patient is None:
            log.info("email from an unknown sender recorded for staff", extra={"event_id": event.id})
            return ReplyOutcome(
                None,
                "skipped",
                False,
                None,
                skipped="unknown_sender",
                record={"from": message.from_address, "subject": message.subject[:200], "thread_id": message.thread_id},
            )
        inbound = InboundEmail(
            event_id=event.id,
            provider_message_id=message.id,
            thread_id=message.thread_id,
            from_address=message.from_address,
            subject=message.subject,
            text=message.text,
            message_id_header=message.message_id_header,
            references=message.references,
            sender_verified=self._written_by_patient(message, match.patient, by_our_message=match.by_our_message),
        )
        return await self.run_graph(inbound, match)

    def _written_by_patient(self, message: GmailMessage, patient: Patient, *, by_our_message: bool) -> bool:
        """From the patient's stored address, and either answering one of ours or DMARC/SPF/DKIM-authenticated.

        Someone else writing into the patient's thread (a forward, a family member, an attacker) may not decline,
        opt out or book on the patient's behalf: staff read it first.
        """
        if not patient.email or message.from_address.strip().lower() != patient.email.lower():
            return False
        return by_our_message or self._authenticated(message)

    def _authenticated(self, message: GmailMessage) -> bool:
        """Whether our mailbox's own (topmost) Authentication-Results header vouches for the From domain."""
        return from_domain_authenticated(
            message.headers.get("authentication-results"),
            from_address=message.from_address,
            authserv_id=self.settings.INBOUND_AUTHSERV_ID,
        )

    async def _ours(self, message: GmailMessage) -> bool:
        if await self.repos.interactions.by_thread(message.thread_id) is not None:
            return True
        ids = _MESSAGE_ID.findall(" ".join(r for r in (message.in_reply_to, message.references) if r))
        return await self.repos.interactions.by_message_ids(ids) is not None

    async def manual(
        self, actor: Actor, *, thread_id: str, body: str, from_address: str | None, message_id: str | None
    ) -> ReplyOutcome:
        """/agent/reply for a staff user: run the graph on a given message (once per message_id); audited.

        A repeated message_id answers with the first run's outcome; one arriving during that run waits for it.
        Staff enter this text themselves and so vouch for its sender: no Authentication-Results check here.
        """
        match = await self.match(
            thread_id=thread_id,
            from_address=from_address,
            references=message_id,
            in_reply_to=message_id,
            sender_first=True,
        )
        if match.patient is None or not match.patient.email:
            await self.audit.record(actor, "agent.reply", "replies", outcome=AuditOutcome.FAILURE)
            raise NotFound("No patient matches this thread or sender", error="unknown_sender")
        resource = f"campaigns/{match.campaign.id}" if match.campaign else "replies"
        await self.audit.record(actor, "agent.reply", resource, patient_id=match.patient.id)
        events = self.repos.inbound_events
        claimed = await self._claim_manual(message_id or f"manual-{uuid.uuid4().hex}")
        if isinstance(claimed, ReplyOutcome):
            return claimed
        event = claimed
        inbound = InboundEmail(
            event_id=event.id,
            provider_message_id=None,
            # Never file this patient's message under another patient's thread (later mail there would follow it).
            thread_id=f"manual-{event.id}" if match.foreign_thread else thread_id,
            from_address=match.patient.email,
            subject="Your message",
            text=body,
            message_id_header=message_id,
        )
        try:
            outcome = await self.run_graph(inbound, match)
        except BaseException as exc:
            await events.release(event.id, owner=self.owner, error=type(exc).__name__, now=self.clock.now())
            raise
        await events.finish(
            event.id,
            owner=self.owner,
            status=InboundStatus.DONE,
            now=self.clock.now(),
            payload={"outcome": _outcome_fields(outcome)},
        )
        return outcome

    async def _claim_manual(self, external_id: str) -> InboundEvent | ReplyOutcome:
        """The event to run this message under, or the outcome of the run that already handled it."""
        events = self.repos.inbound_events
        fresh = self._leased_event(InboundSource.MANUAL, external_id)
        if await events.record(fresh):
            return fresh
        for _ in range(MANUAL_WAIT_ROUNDS):
            existing = await events.find_one(InboundSource.MANUAL, external_id)
            if existing is not None and existing.status != InboundStatus.PENDING:
                return _stored_outcome(existing)
            # Free again when the first run failed or its worker vanished.
            event = await events.claim(
                source=InboundSource.MANUAL,
                external_id=external_id,
                owner=self.owner,
                now=self.clock.now(),
                ttl=EVENT_LEASE,
            )
            if event is not None:
                return event
            await asyncio.sleep(MANUAL_WAIT_SECONDS)
        raise Conflict("This message is still being handled; try again shortly", error="reply_in_progress")

    # ---- Gmail sync -----------------------------------------------------------------------------------------

    async def sync(self) -> int:
        """Read history from the stored cursor (all pages), handle each new message; returns messages seen."""
        if self.gmail is None:
            raise Conflict("Gmail is not configured", error="gmail_not_configured")
        state = await self.repos.gmail_state.get_by_address(self.mailbox)
        if state is None or state.history_id is None:
            return 0  # no watch started yet: nothing to read from
        label = (
            self.settings.GMAIL_LABEL_IDS[0]
            if (self.settings.GMAIL_LABEL_FILTER_ACTION == "include" and len(self.settings.GMAIL_LABEL_IDS) == 1)
            else None
        )
        ids: list[str] = []
        token: str | None = None
        latest = state.history_id
        try:
            while True:
                page = await self.gmail.history_page(
                    start_history_id=state.history_id, page_token=token, label_id=label
                )
                ids.extend(i for i in page.message_ids if i not in ids)
                latest = max(latest, page.history_id)
                token = page.next_page_token
                if not token:
                    break
        except HistoryGone:
            log.warning("gmail history expired; running one bounded full sync")
            ids = await self.gmail.recent_message_ids(max_results=self.settings.GMAIL_FULL_SYNC_MAX, query=None)
            latest = await self._current_history_id(latest)
        await self._handle_all(ids)
        await self.repos.gmail_state.advance(self.mailbox, latest, now=self.clock.now())
        return len(ids)

    async def _current_history_id(self, fallback: int) -> int:
        assert self.gmail is not None
        try:
            return (
                await self.gmail.watch(
                    topic=self.settings.GMAIL_TOPIC_NAME,
                    label_ids=self.settings.GMAIL_LABEL_IDS,
                    label_filter_action=self.settings.GMAIL_LABEL_FILTER_ACTION,
                )
            ).history_id
        except Exception:
            return fallback

    async def _handle_all(self, ids: list[str]) -> None:
        """Handle messages a few at a time; each is claimed on its own, so order and overlap are safe."""
        finished = await self.repos.inbound_events.finished_ids(InboundSource.GMAIL, ids)
        ids = [i for i in ids if i not in finished]
        gate = asyncio.Semaphore(self.settings.REPLY_CONCURRENCY)
        failures = 0

        async def one(message_id: str) -> None:
            nonlocal failures
            async with gate:
                try:
                    await self.handle_gmail_message(message_id)
                except Exception:
                    failures += 1
                    log.exception("incoming message failed; it stays pending for the sweeper")

        await asyncio.gather(*(one(message_id) for message_id in ids))
        if failures:
            log.warning("some incoming messages failed", extra={"failed": failures, "total": len(ids)})

    async def sweep(self, *, older_than: timedelta = timedelta(minutes=2), limit: int = 50) -> int:
        """Retry messages left pending by a crash or an outage."""
        ids = await self.repos.inbound_events.pending_ids(
            source=InboundSource.GMAIL, older_than=self.clock.now() - older_than, limit=limit
        )
        await self._handle_all(ids)
        return len(ids)

    async def start_watch(self) -> tuple[int, Any]:
        """users.watch, storing the history id and expiration."""
        if self.gmail is None or not self.settings.GMAIL_TOPIC_NAME:
            raise Conflict(
                "Gmail is not configured (GMAIL_TOPIC_NAME, GOOGLE_TOKEN_FILE)", error="gmail_not_configured"
            )
        try:
            result = await self.gmail.watch(
                topic=self.settings.GMAIL_TOPIC_NAME,
                label_ids=self.settings.GMAIL_LABEL_IDS,
                label_filter_action=self.settings.GMAIL_LABEL_FILTER_ACTION,
            )
        except GmailError as exc:
            log.warning("gmail watch failed", extra={"status": exc.status, "retryable": exc.retryable})
            raise UpstreamError("Gmail refused or failed to start the watch", error="gmail_failed") from exc
        await self.repos.gmail_state.set_watch(
            self.mailbox, history_id=result.history_id, expiration=result.expiration, now=self.clock.now()
        )
        return result.history_id, result.expiration

    async def accept_push(self, notice: PushNotice) -> str | None:
        """Record a Pub/Sub delivery under its messageId; None for a duplicate (answered 2xx, nothing done)."""
        now = self.clock.now()
        event = InboundEvent(
            id=new_id(),
            source=InboundSource.PUBSUB,
            external_id=notice.message_id,
            payload={"history_id": notice.history_id},
            created_at=now,
            updated_at=now,
        )
        if not await self.repos.inbound_events.record(event):
            return None
        await self.repos.gmail_state.touch_push(self.mailbox, now=now)
        return event.id

    async def poll_if_quiet(self) -> bool:
        """The fallback: sync when no push arrived for GMAIL_POLL_SECONDS; True when it synced."""
        state = await self.repos.gmail_state.get_by_address(self.mailbox)
        quiet_since = self.clock.now() - timedelta(seconds=self.settings.GMAIL_POLL_SECONDS)
        if state is None or (state.last_push_at is not None and state.last_push_at > quiet_since):
            return False
        await self.sync()
        return True

    async def run_push(self, event_id: str) -> None:
        """Durable work behind one recorded push: sync, then mark the push done."""
        try:
            # Pushes arriving during a sync are folded into one more pass instead of re-reading the same window.
            await self.coalescer.run(self.sync)
        except Exception:
            log.exception("push processing failed; the sweeper will retry")
            return
        await self.repos.inbound_events.mark_done(event_id, now=self.clock.now())


WATCH_LEASE = "gmail-watch"
WATCH_RENEW_AFTER = timedelta(days=1)
WATCH_LIFETIME = timedelta(days=7)


async def maintenance_pass(service: ReplyService, *, lease_ttl: timedelta) -> bool:
    """One pass on the `gmail-watch` lease holder only: renew the watch daily, poll if pushes stopped, sweep."""
    now = service.clock.now()
    if not await service.repos.leases.claim(WATCH_LEASE, owner=service.owner, ttl=lease_ttl, now=now):
        return False
    state = await service.repos.gmail_state.get_by_address(service.mailbox)
    expires = state.watch_expiration if state else None
    if expires is None or expires - now < WATCH_LIFETIME - WATCH_RENEW_AFTER:
        await service.start_watch()
        log.info("gmail watch renewed")
    await service.poll_if_quiet()
    await service.sweep()
    return True


async def gmail_maintenance(service: ReplyService, stop: asyncio.Event, *, interval: float = 60.0) -> None:
    """The Gmail loop: a maintenance pass every `interval` seconds until stopped."""
    while not stop.is_set():
        try:
            await maintenance_pass(service, lease_ttl=timedelta(seconds=interval * 3))
        except Exception:
            log.exception("gmail maintenance pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def background(coro: Any, tasks: set[asyncio.Task[None]]) -> None:
    """Run a coroutine after the response, keeping a reference so it is not collected."""
    task = asyncio.create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
