"""The Container: every long-lived resource of one app instance, built and closed by the lifespan."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from agent.context import OutreachContext
from agent.graph import OutreachGraph, build_outreach_graph
from agent.runner import OutreachGraphRunner
from core.cache import TTLCache
from core.clock import Clock, SystemClock
from core.config import Settings
from core.security import Passwords
from core.snapshot import Snapshot
from core.tasks import Coalescer
from db.client import make_client
from db.indexes import ensure_indexes
from db.repositories import Repositories
from domain.audit import AuditTrail
from domain.auth import AuthService
from domain.booking import Availability, BookingService
from domain.campaigns_admin import CampaignAdminService
from domain.consent import ConsentService
from domain.console_sessions import ConsoleSessionService
from domain.dashboard import DashboardService, DashboardStats
from domain.inbox import InboxService
from domain.knowledge_base import KnowledgeBaseService
from domain.outbox import OutboxService
from domain.outreach import OutreachService, worker_id
from domain.patients_admin import PatientAdminService
from domain.replies import REPLY_LEASE, ReplyService, worker_owner
from domain.staff_replies import StaffReplyService
from domain.users_admin import UserAdminService
from email_reply_agent.context import ReplyContext
from email_reply_agent.graph import ReplyGraph, build_reply_graph
from email_reply_agent.nodes.understand_message import wants_email_opt_out
from email_reply_agent.runner import GraphReplyAgent
from services.email.fake import FakeEmail
from services.email.port import EmailPort, ReplySender
from services.email.replies import SmtpReplies
from services.email.smtp import SmtpEmail
from services.gmail.port import GmailPort
from services.gmail.replies import GmailReplies
from services.llm.offline import OfflineLLM
from services.llm.port import LLMPort
from services.outbox.adapters import OutboxEmail, OutboxSms
from services.outbox.port import OutboxStore
from services.sms.port import SmsPort
from services.sms.twilio_adapter import TwilioSms

if TYPE_CHECKING:
    from models.system import KbArticle
    from services.gmail.push import OidcVerifier

log = logging.getLogger("medcampaign.container")


@dataclass
class Container:
    """The composition root: every resource of one running instance, and the one place each service is built."""

    settings: Settings
    client: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    repos: Repositories
    email: EmailPort
    sms: SmsPort | None
    passwords: Passwords  # argon2 off the event loop, bounded; tests inject a counting one
    templates: LLMPort  # the built-in texts: always there, the fallback of every language task
    outreach_graph: OutreachGraph
    reply_graph: ReplyGraph
    clock: Clock = field(default_factory=SystemClock)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    dashboard_snapshot: Snapshot[DashboardStats] = field(default_factory=Snapshot)
    # Availability per (doctor, month, duration, day); booking always re-checks against the database.
    availability_cache: TTLCache[Availability] = field(default_factory=lambda: TTLCache(0))
    # The knowledge base is read by every reply and changes rarely.
    kb_cache: TTLCache[list[KbArticle]] = field(default_factory=lambda: TTLCache(0))
    llm: LLMPort | None = None  # None: no LLM configured, the templates write everything
    gmail: GmailPort | None = None
    oidc_verifier: OidcVerifier | None = None
    # Pushes arriving during a sync fold into one more pass (one per instance).
    sync_coalescer: Coalescer = field(default_factory=Coalescer)

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        await self.db.command("ping")

    def outreach(self, owner: str | None = None) -> OutreachService:
        """An OutreachService running this container's compiled outreach graph on its ports."""
        owner = owner or worker_id()
        context = OutreachContext(
            settings=self.settings,
            clock=self.clock,
            repos=self.repos,
            email=self.email,
            sms=self.sms,
            llm=self.llm,
            templates=self.templates,
            owner=owner,
            lease_ttl=timedelta(seconds=self.settings.OUTREACH_LEASE_SECONDS),
        )
        return OutreachService(
            settings=self.settings,
            clock=self.clock,
            repos=self.repos,
            runner=OutreachGraphRunner(self.outreach_graph, context),
            owner=owner,
            on_change=self.dashboard_snapshot.mark_stale,
        )

    def outbox(self) -> OutboxService:
        """The development outbox's audited reads."""
        return OutboxService(settings=self.settings, clock=self.clock, repos=self.repos)

    def auth(self) -> AuthService:
        """Staff login, tokens and roles."""
        repos = self.repos
        return AuthService(
            settings=self.settings,
            clock=self.clock,
            users=repos.users,
            attempts=repos.login_attempts,
            rate_limits=repos.rate_limits,
            audit=repos.audit,
            passwords=self.passwords,
        )

    def console_sessions(self) -> ConsoleSessionService:
        """Staff console sign-in, sessions and form tokens, over the same credential check as the API."""
        return ConsoleSessionService(
            settings=self.settings,
            clock=self.clock,
            auth=self.auth(),
            sessions=self.repos.console_sessions,
            users=self.repos.users,
        )

    def consent(self) -> ConsentService:
        """Opt-out handling."""
        return ConsentService(settings=self.settings, clock=self.clock, repos=self.repos)

    def dashboard(self) -> DashboardService:
        """The dashboard, served from this instance's snapshot."""
        return DashboardService(
            settings=self.settings, clock=self.clock, repos=self.repos, snapshot=self.dashboard_snapshot
        )

    def campaign_admin(self) -> CampaignAdminService:
        """Staff campaign views and actions; status changes mark the dashboard snapshot stale."""
        return CampaignAdminService(
            settings=self.settings,
            clock=self.clock,
            repos=self.repos,
            on_change=self.dashboard_snapshot.mark_stale,
        )

    def patient_admin(self) -> PatientAdminService:
        """Staff patient views, edits, consent and CSV import."""
        return PatientAdminService(settings=self.settings, clock=self.clock, repos=self.repos)

    def users_admin(self) -> UserAdminService:
        """Staff accounts and the audit trail (admins), hashing on the shared argon2 workers."""
        return UserAdminService(settings=self.settings, clock=self.clock, repos=self.repos, passwords=self.passwords)

    def booking(self) -> BookingService:
        """Availability, booking, moving and cancelling; changes mark the dashboard snapshot stale."""
        return BookingService(
            settings=self.settings,
            clock=self.clock,
            repos=self.repos,
            email=self.email,
            sms=self.sms,
            background=self.background,
            availability_cache=self.availability_cache,
            on_change=self.dashboard_snapshot.mark_stale,
        )

    def replies(self, owner: str | None = None) -> ReplyService:
        """A ReplyService: Gmail when configured, else SMTP replies with threading headers."""
        owner = owner or worker_owner()
        context = ReplyContext(
            settings=self.settings,
            clock=self.clock,
            repos=self.repos,
            llm=self.llm,
            templates=self.templates,
            sender=self.reply_sender(),
            open_slots=self.booking().next_open_slots,
            knowledge_base=self.knowledge_base,
            owner=owner,
            reply_lease=REPLY_LEASE,
        )
        return ReplyService(
            settings=self.settings,
            clock=self.clock,
            repos=self.repos,
            agent=GraphReplyAgent(self.reply_graph, context),
            gmail=self.gmail,
            owner=owner,
        )

    def reply_sender(self) -> ReplySender:
        """Replies in the patient's thread: Gmail when configured, else SMTP with threading headers."""
        return GmailReplies(self.gmail) if self.gmail is not None else SmtpReplies(self.email)

    def staff_replies(self) -> StaffReplyService:
        """The handoff queue and staff answers, sent like the reply agent's; resolving marks the dashboard stale."""
        return StaffReplyService(
            settings=self.settings,
            clock=self.clock,
            repos=self.repos,
            admin=self.campaign_admin(),
            sender=self.reply_sender(),
            llm=self.llm,
            templates=self.templates,
            knowledge_base=self.knowledge_base,
            owner=worker_owner(),
        )

    def inbox(self, owner: str | None = None) -> InboxService:
        """The InboxService reading the clinic mailbox, handing each message to a ReplyService of the same owner."""
        return InboxService(
            settings=self.settings,
            clock=self.clock,
            repos=self.repos,
            gmail=self.gmail,
            replies=self.replies(owner),
            coalescer=self.sync_coalescer,
        )

    async def knowledge_base(self) -> list[KbArticle]:
        """Every KB article, cached for KB_CACHE_SECONDS (edits on this instance show at once)."""
        return list(await self.kb_cache.get("all", self.repos.kb_articles.all))

    def kb_admin(self) -> KnowledgeBaseService:
        """Staff editing of the knowledge base, and the reply agent's choice previewed; edits clear the KB cache."""
        return KnowledgeBaseService(
            settings=self.settings,
            clock=self.clock,
            articles=self.repos.kb_articles,
            audit=AuditTrail(repo=self.repos.audit, clock=self.clock),
            knowledge_base=self.knowledge_base,
            llm=self.llm,
            templates=self.templates,
            wants_opt_out=wants_email_opt_out,
            on_change=self.kb_cache.invalidate,
        )

    async def drain(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a bound for asyncio.wait, not a cancel
        """Wait for background work (e.g. confirmation emails) to finish."""
        if self.background:
            await asyncio.wait(set(self.background), timeout=timeout)

    async def close(self) -> None:
        """Finish background work, then release every resource."""
        await self.dashboard_snapshot.aclose()
        await self.drain()
        for task in self.background:
            task.cancel()
        for port in (self.email, self.sms, self.llm, self.gmail):
            closer = getattr(port, "aclose", None)
            if closer:
                await closer()
        self.passwords.close()
        await self.client.close()


def build_email(settings: Settings, outbox: OutboxStore, clock: Clock) -> EmailPort:
    """SMTP when configured; in development without SMTP_HOST the outbox collection; otherwise (EMAIL_BACKEND=disabled)
    an in-memory list (nothing leaves the host)."""
    if settings.email_enabled:
        return SmtpEmail.from_settings(settings)
    if settings.email_outbox:
        log.warning("no SMTP_HOST in development: emails are kept in the console's Outbox and not delivered")
        return OutboxEmail(
            store=outbox, clock=clock, from_email=settings.SMTP_FROM_EMAIL, from_name=settings.SMTP_FROM_NAME
        )
    log.warning("EMAIL_BACKEND=disabled or no SMTP_HOST: emails are kept in an in-memory outbox and not delivered")
    return FakeEmail(domain=settings.SMTP_FROM_EMAIL.rpartition("@")[2] or "localhost")


def build_sms(settings: Settings, outbox: OutboxStore, clock: Clock) -> SmsPort | None:
    """Twilio when configured; in development the outbox collection; else no SMS/voice channel."""
    if settings.sms_enabled:
        return TwilioSms.from_settings(settings)
    if settings.sms_outbox:
        return OutboxSms(store=outbox, clock=clock, from_number=settings.TWILIO_PHONE_NUMBER)
    return None


async def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Connect, ensure indexes and assemble the container."""
    client = make_client(settings)
    try:
        db = client[settings.MONGO_DB_NAME]
        await ensure_indexes(db)
    except BaseException:
        await client.close()
        raise
    from services.gmail.push import OidcVerifier

    llm: LLMPort | None = None
    if settings.llm_enabled:  # imported only when used: the client libraries take a second to load
        from services.llm.openai_llm import build_llm

        llm = build_llm(settings)
    gmail: GmailPort | None = None
    if settings.gmail_enabled:
        from services.gmail.client import GoogleGmail

        gmail = GoogleGmail.from_settings(settings)
    repos = Repositories.over(db)
    clock = clock or SystemClock()
    return Container(
        settings=settings,
        client=client,
        db=db,
        repos=repos,
        email=build_email(settings, repos.outbox, clock),
        sms=build_sms(settings, repos.outbox, clock),
        passwords=Passwords(
            concurrency=settings.LOGIN_HASH_CONCURRENCY,
            queue=settings.LOGIN_HASH_QUEUE,
            nice=settings.LOGIN_HASH_NICE,
            busy_delay=settings.LOGIN_BUSY_DELAY_SECONDS,
        ),
        clock=clock,
        availability_cache=TTLCache(settings.AVAILABILITY_CACHE_SECONDS),
        kb_cache=TTLCache(settings.KB_CACHE_SECONDS),
        llm=llm,
        templates=OfflineLLM(),
        outreach_graph=build_outreach_graph(),
        reply_graph=build_reply_graph(),
        gmail=gmail,
        oidc_verifier=OidcVerifier.from_settings(settings),
    )
