"""The repositories: the only code that names a collection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from db.repositories.collections import (
    AppointmentRepository,
    AuditRepository,
    CampaignRepository,
    GmailStateRepository,
    InboundEventRepository,
    InteractionRepository,
    KbArticleRepository,
    LeaseRepository,
    LoginAttemptRepository,
    OutboundMessageRepository,
    PatientRepository,
    RateLimitRepository,
    ReplySlotRepository,
    SlotClaimRepository,
    UserRepository,
)


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
        )
