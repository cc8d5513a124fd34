"""The Container: every long-lived resource of one app instance, built and closed by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from core.clock import Clock, SystemClock
from core.config import Settings
from db.client import make_client
from db.indexes import ensure_indexes
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
    leases: LeaseRepository
    users: UserRepository
    login_attempts: LoginAttemptRepository
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
            leases=LeaseRepository(db),
            users=UserRepository(db),
            login_attempts=LoginAttemptRepository(db),
            audit=AuditRepository(db),
            kb_articles=KbArticleRepository(db),
        )


@dataclass
class Container:
    """Settings, clock, database client and repositories of one running instance."""

    settings: Settings
    client: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    repos: Repositories
    clock: Clock = field(default_factory=SystemClock)

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        await self.db.command("ping")

    async def close(self) -> None:
        """Release every resource."""
        await self.client.close()


async def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Connect, ensure indexes and assemble the container."""
    client = make_client(settings)
    try:
        db = client[settings.MONGO_DB_NAME]
        await ensure_indexes(db)
    except BaseException:
        await client.close()
        raise
    return Container(settings=settings, client=client, db=db, repos=Repositories.over(db), clock=clock or SystemClock())
