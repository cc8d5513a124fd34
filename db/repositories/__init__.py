"""The repositories: the only code that names a collection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from db.repositories.appointments import AppointmentRepository
from db.repositories.audit import AuditRepository
from db.repositories.campaigns import CampaignRepository
from db.repositories.console_sessions import ConsoleSessionRepository
from db.repositories.gmail_state import GmailStateRepository
from db.repositories.inbound_events import InboundEventRepository
from db.repositories.interactions import InteractionRepository
from db.repositories.kb_articles import KbArticleRepository
from db.repositories.leases import LeaseRepository
from db.repositories.login_attempts import LoginAttemptRepository
from db.repositories.outbound_messages import OutboundMessageRepository
from db.repositories.outbox import OutboxRepository
from db.repositories.patient_imports import PatientImportRepository
from db.repositories.patients import PatientRepository
from db.repositories.rate_limits import RateLimitRepository
from db.repositories.reply_slots import ReplySlotRepository
from db.repositories.slot_claims import SlotClaimRepository
from db.repositories.staff_replies import StaffReplyRepository
from db.repositories.users import UserRepository


@dataclass
class Repositories:
    """All repositories over one database."""

    patients: PatientRepository
    campaigns: CampaignRepository
    appointments: AppointmentRepository
    slot_claims: SlotClaimRepository
    interactions: InteractionRepository
    outbound_messages: OutboundMessageRepository
    inbound_events: InboundEventRepository
    gmail_state: GmailStateRepository
    reply_slots: ReplySlotRepository
    leases: LeaseRepository
    users: UserRepository
    login_attempts: LoginAttemptRepository
    rate_limits: RateLimitRepository
    audit: AuditRepository
    kb_articles: KbArticleRepository
    console_sessions: ConsoleSessionRepository
    staff_replies: StaffReplyRepository
    outbox: OutboxRepository
    patient_imports: PatientImportRepository

    @classmethod
    def over(cls, db: AsyncDatabase[dict[str, Any]]) -> Repositories:
        """Build every repository on a database."""
        return cls(
            patients=PatientRepository(db),
            campaigns=CampaignRepository(db),
            appointments=AppointmentRepository(db),
            slot_claims=SlotClaimRepository(db),
            interactions=InteractionRepository(db),
            outbound_messages=OutboundMessageRepository(db),
            inbound_events=InboundEventRepository(db),
            gmail_state=GmailStateRepository(db),
            reply_slots=ReplySlotRepository(db),
            leases=LeaseRepository(db),
            users=UserRepository(db),
            login_attempts=LoginAttemptRepository(db),
            rate_limits=RateLimitRepository(db),
            audit=AuditRepository(db),
            kb_articles=KbArticleRepository(db),
            console_sessions=ConsoleSessionRepository(db),
            staff_replies=StaffReplyRepository(db),
            outbox=OutboxRepository(db),
            patient_imports=PatientImportRepository(db),
        )
