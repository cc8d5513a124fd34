"""Staff answer a handed-off patient in their email thread: the queue, a suggested reply, one answer per handoff.

The answer goes out through the reply agent's own sender (the Gmail thread, else SMTP with In-Reply-To and
References). Each handoff is answered at most once: the answer's key ("<campaign>:<handoff time>") is claimed under
a unique index before anything is sent, so a double submit, a second tab or a second instance sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, NotFound, Unprocessable, UpstreamError
from core.retry import Retry
from db.repositories import Repositories
from domain.audit import Actor, AuditTrail
from domain.campaigns_admin import CampaignAdminService, InvalidTransition
from domain.reply_text import BOOKING_LINE, booking_link, letter, reply_subject, split_note
from models.base import new_id
from models.campaign import Campaign, CampaignDetail, HandoffItem
from models.enums import CampaignStatus, Channel, Direction, OutboundStatus
from models.interaction import Interaction
from models.messaging import StaffReply
from models.patient import Patient
from models.system import KbArticle
from services.email.port import EmailError, ReplySender
from services.gmail.port import GmailError
from services.llm.port import LLMError, LLMPort
from services.llm.schemas import KbCandidate, SuggestedReply

log = logging.getLogger("medcampaign.staff_replies")

TEXT_MAX = 5000
CONTEXT_TURNS = 6  # the conversation shown above the answer form
REFERENCES_MAX = 10  # Message-IDs in References (RFC 5322 allows trimming the middle of a long thread)
SEND_LEASE = timedelta(minutes=2)
OUTCOME_WORDS = {
    OutboundStatus.SENT: "was already answered",
    OutboundStatus.CLAIMED: "is being answered right now",
    OutboundStatus.UNKNOWN: "may already have been answered",
}


class HandoffClosed(Conflict):
    """409: the campaign is not waiting for staff any more (answered, resolved, or a newer handoff)."""

    error = "handoff_closed"


class AlreadyAnswered(Conflict):
    """409: someone already sent (or is sending) the one answer to this handoff."""

    error = "already_answered"


class AnswerNotSent(UpstreamError):
    """502: the mail service refused or failed; nothing went out, the handoff stays open and may be retried."""

    error = "reply_not_sent"


@dataclass(frozen=True)
class QueuedHandoff:
    """A row of the queue: the waiting campaign and whether the agent already acknowledged the patient."""

    item: HandoffItem
    acknowledged: bool


@dataclass(frozen=True)
class HandoffThread:
    """What staff read before answering: the patient, their last message and the conversation's last turns."""

    campaign: Campaign
    patient: Patient | None
    last_incoming: Interaction | None
    recent: list[Interaction]  # oldest first
    acknowledged: bool
    key: str  # the answer's claim key, carried by the form


@dataclass(frozen=True)
class HandoffDraft:
    """The thread and a suggested reply (by the LLM, or the template when there is none or it failed)."""

    thread: HandoffThread
    text: str
    source: Literal["llm", "template"]


@dataclass(frozen=True)
class StaffAnswer:
    """The answer that went out and the campaign after it."""

    campaign: Campaign
    interaction: Interaction


def handoff_key(campaign: Campaign) -> str:
    """The one-answer key of the campaign's current handoff."""
    at = campaign.handoff.at if campaign.handoff else None
    return f"{campaign.id}:{int(at.timestamp() * 1000) if at else 'unspecified'}"


def acknowledged(last_incoming: Interaction | None, last_outgoing: Interaction | None) -> bool:
    """True when the agent's automatic reply went out after the patient's last message."""
    if last_outgoing is None or last_outgoing.kind != "auto_reply":
        return False
    return last_incoming is None or last_outgoing.timestamp >= last_incoming.timestamp


def clean_text(text: str) -> str:
    """The reply as staff wrote it, trimmed; 422 when empty or too long."""
    cleaned = text.replace("\r\n", "\n").strip()
    if not cleaned:
        raise Unprocessable("Write a reply before sending it", error="empty_reply", field="text")
    if len(cleaned) > TEXT_MAX:
        raise Unprocessable(
            f"The reply is {len(cleaned)} characters long; at most {TEXT_MAX} can be sent",
            error="reply_too_long",
            field="text",
        )
    return cleaned


def _emails(conversation: list[Interaction]) -> list[Interaction]:
    return [i for i in conversation if i.channel == Channel.EMAIL]


def _last_incoming(conversation: list[Interaction]) -> Interaction | None:
    return next((i for i in reversed(conversation) if i.direction == Direction.INCOMING), None)


def _subject(last: Interaction | None) -> str:
    """`Re:` the patient's subject."""
    return reply_subject(split_note(last.body)[0] if last else "")


def _references(conversation: list[Interaction], last: Interaction | None) -> str | None:
    """The thread's Message-IDs up to the patient's message, oldest first, that message last."""
    ids: list[str] = []
    for interaction in _emails(conversation):
        if interaction.message_id_header and interaction.message_id_header not in ids:
            ids.append(interaction.message_id_header)
        if interaction is last:
            break
    if last is not None and last.message_id_header in ids:
        ids.remove(last.message_id_header)
        ids.append(last.message_id_header)
    return " ".join(ids[-REFERENCES_MAX:]) or None


def _thread_id(conversation: list[Interaction], last: Interaction | None) -> str:
    """The mail thread to answer in: the patient's message's, else the conversation's latest."""
    if last is not None and last.thread_id:
        return last.thread_id
    return next((i.thread_id for i in reversed(conversation) if i.thread_id), "")


class StaffReplyService:
    """The handoff queue and staff answers by email, all audited."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        repos: Repositories,
        admin: CampaignAdminService,
        sender: ReplySender,
        llm: LLMPort | None,
        templates: LLMPort,
        knowledge_base: Callable[[], Awaitable[list[KbArticle]]],
        owner: str,
    ):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.audit = AuditTrail(repo=repos.audit, clock=clock)
        self.admin = admin
        self.sender = sender
        self.llm = llm
        self.templates = templates
        self.knowledge_base = knowledge_base
        self.owner = owner

    # ---- reads ----------------------------------------------------------------------------------------------

    async def queue(self, actor: Actor, *, page: int, page_size: int) -> tuple[list[QueuedHandoff], int]:
        """Handoffs oldest first (the admin use case, audited), each with whether the agent acknowledged it."""
        items, total = await self.admin.handoffs(actor, page=page, page_size=page_size)
        last_out = await self.repos.interactions.last_outgoing([item.summary.campaign.id for item in items])
        rows = [
            QueuedHandoff(item, acknowledged(item.last_incoming, last_out.get(item.summary.campaign.id)))
            for item in items
        ]
        return rows, total

    async def thread(self, actor: Actor, campaign_id: str) -> HandoffThread:
        """The handoff to answer; 404 unknown, 409 when it is not waiting for staff any more; audited."""
        async with self.audit.audited(actor, "handoffs.read", f"campaigns/{campaign_id}") as subject:
            found = await self._open_handoff(campaign_id)
            subject["patient_id"] = found.campaign.patient_id
            return self._thread(found)

    async def draft(self, actor: Actor, campaign_id: str) -> HandoffDraft:
        """The thread and a suggested reply to the patient's last message (never fails on the LLM); audited."""
        thread = await self.thread(actor, campaign_id)
        last = thread.last_incoming
        email_text = split_note(last.body)[1] if last else ""
        kb = [KbCandidate(id=a.id, title=a.title, answer=a.answer) for a in await self.knowledge_base()]
        suggestion: SuggestedReply | None = None
        if self.llm is not None:
            try:
                suggestion = await self.llm.draft_reply(email_text=email_text, kb=kb)
            except LLMError as exc:
                log.warning("reply suggestion failed; template used", extra={"reason": exc.reason})
        source: Literal["llm", "template"] = "llm" if suggestion is not None else "template"
        if suggestion is None:
            suggestion = await self.templates.draft_reply(email_text=email_text, kb=kb)
        link = booking_link(self.settings, thread.campaign.id, now=self.clock.now())
        body = suggestion.body + "\n\n" + BOOKING_LINE.format(booking_link=link)
        return HandoffDraft(thread, letter(self.settings, thread.patient, body), source)

    async def _open_handoff(self, campaign_id: str) -> CampaignDetail:
        found = await self.repos.campaigns.detail(campaign_id)
        if found is None:
            raise NotFound("Campaign not found", error="campaign_not_found")
        if found.campaign.status != CampaignStatus.HANDOFF:
            raise HandoffClosed(
                f"This handoff was already answered or resolved (the campaign is {found.campaign.status.value})"
            )
        return found

    def _thread(self, found: CampaignDetail) -> HandoffThread:
        conversation = found.conversation
        last_in = _last_incoming(conversation)
        last_out = next((i for i in reversed(conversation) if i.direction == Direction.OUTGOING), None)
        return HandoffThread(
            campaign=found.campaign,
            patient=found.patient,
            last_incoming=last_in,
            recent=conversation[-CONTEXT_TURNS:],
            acknowledged=acknowledged(last_in, last_out),
            key=handoff_key(found.campaign),
        )

    # ---- the answer -----------------------------------------------------------------------------------------

    async def send(self, actor: Actor, campaign_id: str, *, text: str, key: str) -> StaffAnswer:
        """Send the staff member's reply in the thread once per handoff, record it and resolve the handoff.

        422 empty/too long, 404 unknown, 409 already answered or resolved, 502 the mail service failed (nothing
        sent, the claim freed for a retry, the handoff still open). Audited, failures included.
        """
        async with self.audit.audited(actor, "handoffs.reply", f"campaigns/{campaign_id}") as subject:
            body = clean_text(text)
            taken = await self.repos.staff_replies.find_by_key(key)
            if taken is not None and taken.status != OutboundStatus.FAILED:
                raise AlreadyAnswered(self._taken(taken))
            found = await self._open_handoff(campaign_id)
            campaign, patient = found.campaign, found.patient
            subject["patient_id"] = campaign.patient_id
            if key != handoff_key(campaign):
                raise HandoffClosed("This handoff changed since the page was opened; open it again to answer")
            if patient is None or not patient.email:
                raise Unprocessable("The patient has no email address on file", error="no_email")
            mine, row = await self.repos.staff_replies.claim(
                key,
                campaign_id=campaign.id,
                actor=actor.email,
                owner=self.owner,
                now=self.clock.now(),
                ttl=SEND_LEASE,
            )
            if not mine or row is None:
                raise AlreadyAnswered(self._taken(row))
            message_id = await self._deliver(row, found, to=patient.email, text=body)
            interaction = await self._record(found, actor, text=body, message_id=message_id)
            resolved = await self._resolve(actor, campaign)
        return StaffAnswer(resolved, interaction)

    @staticmethod
    def _taken(row: StaffReply | None) -> str:
        if row is None:
            return "This handoff was already answered"
        return f"This handoff {OUTCOME_WORDS.get(row.status, 'was already answered')} by {row.actor}"

    async def _deliver(self, row: StaffReply, found: CampaignDetail, *, to: str, text: str) -> str:
        """One threaded send, retried like the agent's; a failure frees the claim and raises AnswerNotSent."""
        conversation = found.conversation
        last = _last_incoming(conversation)
        subject = _subject(last)
        retry = Retry(delays=self.settings.outreach_retry_delays, retry_on=(GmailError, EmailError))
        replies = self.repos.staff_replies
        try:
            message_id = await retry.run(
                lambda: self.sender.send_reply(
                    to=to,
                    subject=subject,
                    text=text,
                    thread_id=_thread_id(conversation, last),
                    in_reply_to=last.message_id_header if last else None,
                    references=_references(conversation, last),
                    automatic=False,
                )
            )
        except (GmailError, EmailError) as exc:
            await replies.finish(
                row.id, owner=self.owner, status=OutboundStatus.FAILED, now=self.clock.now(), error=type(exc).__name__
            )
            log.warning("staff reply not sent", extra={"retryable": exc.retryable, "tries": retry.tries})
            raise AnswerNotSent(
                "The email could not be sent, so nothing went out and the handoff is still open. "
                "Your text is kept below: try again in a moment"
            ) from exc
        await replies.finish(
            row.id, owner=self.owner, status=OutboundStatus.SENT, now=self.clock.now(), provider_message_id=message_id
        )
        return message_id

    async def _record(self, found: CampaignDetail, actor: Actor, *, text: str, message_id: str) -> Interaction:
        conversation = found.conversation
        last = _last_incoming(conversation)
        subject = _subject(last)
        interaction = Interaction(
            id=new_id(),
            campaign_id=found.campaign.id,
            patient_id=found.campaign.patient_id,
            direction=Direction.OUTGOING,
            channel=Channel.EMAIL,
            timestamp=self.clock.now(),
            body=f"{subject}\n\n{text}",
            summary=f"Answered by email by {actor.email}",
            provider_message_id=message_id,
            thread_id=_thread_id(conversation, last) or None,
            # SMTP answers with the Message-ID (a later reply's References name it); Gmail with its own id.
            message_id_header=message_id if message_id.startswith("<") else None,
            kind="staff",
        )
        await self.repos.interactions.insert(interaction)
        return interaction

    async def _resolve(self, actor: Actor, campaign: Campaign) -> Campaign:
        """Back to ENGAGED with the admin use case's compare-and-set (which also marks the dashboard stale)."""
        try:
            return await self.admin.resolve_handoff(
                actor, campaign.id, note=f"Answered by email by {actor.email}", outcome="engaged"
            )
        except InvalidTransition:
            # Resolved by someone else meanwhile: the answer went out and is recorded all the same.
            return await self.repos.campaigns.get(campaign.id) or campaign
