"""Replies: each incoming message matched to its patient and campaign, claimed once, answered by the reply graph.

Every Gmail message id is recorded under a unique key before anything else happens, so duplicate pushes,
overlapping history windows and concurrent workers lead to one reply.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, NotFound
from db.repositories import Repositories
from domain.audit import Actor, AuditTrail
from models.base import new_id
from models.campaign import Campaign, Lease
from models.enums import AuditOutcome, CampaignStatus, InboundSource, InboundStatus, Intent
from models.interaction import Interaction
from models.messaging import InboundEvent
from models.patient import Patient
from services.gmail.auth_results import from_domain_authenticated
from services.gmail.port import GmailMessage, GmailPort

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
class InboundEmail:
    """A patient's email as the reply agent sees it (already past loop prevention)."""

    event_id: str  # the inbound_events row that makes the reply happen at most once
    provider_message_id: str | None
    thread_id: str
    from_address: str
    subject: str
    text: str
    message_id_header: str | None = None
    references: str | None = None
    # False: matched by its From address alone without an authenticated From domain; recorded, staff decide.
    sender_verified: bool = True


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


class ReplyNotSent(Exception):
    """The reply could not be sent now; the incoming message stays pending and is retried later."""


class ReplyAgent(Protocol):
    """Reads one matched incoming email, answers within the allow-list and updates the campaign (the reply graph)."""

    async def run(self, inbound: InboundEmail, match: Match) -> ReplyOutcome:
        """What happened; raises ReplyNotSent when the answer could not go out now."""
        ...


def worker_owner() -> str:
    """A lease owner name for one reply worker."""
    return f"replies-{uuid.uuid4().hex[:12]}"


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


class ReplyService:
    """Matches incoming mail to patients and runs the reply graph, exactly once per message."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        repos: Repositories,
        agent: ReplyAgent,
        gmail: GmailPort | None,
        owner: str,
    ):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.audit = AuditTrail(repo=repos.audit, clock=clock)
        self.agent = agent
        self.gmail = gmail
        self.owner = owner  # the same owner leases the event and (in the agent) its one reply

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
        return await self.agent.run(inbound, match)

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
            outcome = await self.agent.run(inbound, match)
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
