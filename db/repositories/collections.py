"""One repository per collection."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from db.repositories.base import Repository, oid
from models.appointment import Appointment, SlotClaim
from models.base import new_id
from models.campaign import Campaign
from models.enums import AuditOutcome, Role
from models.interaction import Interaction
from models.messaging import GmailState, InboundEvent, OutboundMessage
from models.patient import Patient
from models.system import AuditRecord, KbArticle, NamedLease, User


class PatientRepository(Repository[Patient]):
    """patients."""

    collection_name = "patients"
    model = Patient

    async def get_by_email(self, email: str) -> Patient | None:
        """Find a patient by (lower-cased) email."""
        return self._load(await self.collection.find_one({"email": email.lower()}))


class CampaignRepository(Repository[Campaign]):
    """campaigns."""

    collection_name = "campaigns"
    model = Campaign

    async def list_for_patient(self, patient_id: str) -> list[Campaign]:
        """All campaigns of a patient, newest first."""
        cursor = self.collection.find({"patient_id": oid(patient_id)}).sort("created_at", DESCENDING)
        return [Campaign.from_mongo(doc) async for doc in cursor]


class AppointmentRepository(Repository[Appointment]):
    """appointments."""

    collection_name = "appointments"
    model = Appointment


class SlotClaimRepository(Repository[SlotClaim]):
    """slot_claims."""

    collection_name = "slot_claims"
    model = SlotClaim


class InteractionRepository(Repository[Interaction]):
    """interactions."""

    collection_name = "interactions"
    model = Interaction

    async def for_campaign(self, campaign_id: str) -> list[Interaction]:
        """A campaign's conversation, oldest first."""
        cursor = self.collection.find({"campaign_id": oid(campaign_id)}).sort("timestamp", 1)
        return [Interaction.from_mongo(doc) async for doc in cursor]


class OutboundMessageRepository(Repository[OutboundMessage]):
    """outbound_messages."""

    collection_name = "outbound_messages"
    model = OutboundMessage


class InboundEventRepository(Repository[InboundEvent]):
    """inbound_events."""

    collection_name = "inbound_events"
    model = InboundEvent

    async def record(self, event: InboundEvent) -> bool:
        """Record an event under its unique (source, external id); False when it was already there."""
        try:
            await self.insert(event)
        except DuplicateKeyError:
            return False
        return True


class GmailStateRepository(Repository[GmailState]):
    """gmail_state."""

    collection_name = "gmail_state"
    model = GmailState


class LeaseRepository(Repository[NamedLease]):
    """leases: named, expiring claims on shared work."""

    collection_name = "leases"
    model = NamedLease

    async def claim(self, name: str, *, owner: str, ttl: timedelta, now: datetime) -> bool:
        """Take or renew the lease when it is free, expired or already ours."""
        try:
            doc = await self.collection.find_one_and_update(
                {"name": name, "$or": [{"until": {"$lte": now}}, {"owner": owner}]},
                {"$set": {"owner": owner, "until": now + ttl}, "$setOnInsert": {"_id": ObjectId()}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # someone else holds it (the upsert collided with their document)
        return doc is not None and doc["owner"] == owner

    async def release(self, name: str, *, owner: str) -> None:
        """Give the lease up if we hold it."""
        await self.collection.delete_one({"name": name, "owner": owner})


class UserRepository(Repository[User]):
    """users."""

    collection_name = "users"
    model = User

    async def get_by_email(self, email: str) -> User | None:
        """Find a user by (lower-cased) email."""
        return self._load(await self.collection.find_one({"email": email.lower()}))

    async def create_or_reset(self, *, email: str, password_hash: str, role: Role, now: datetime) -> User:
        """Create the account, or reset its password and role."""
        doc = await self.collection.find_one_and_update(
            {"email": email.lower()},
            {
                "$set": {"password_hash": password_hash, "role": role.value, "is_active": True, "updated_at": now},
                "$setOnInsert": {"_id": ObjectId(new_id()), "created_at": now},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return User.from_mongo(doc)


class LoginAttemptRepository:
    """login_attempts: failed-login counters per account key (known or not, so lockout reveals nothing)."""

    collection_name = "login_attempts"

    def __init__(self, db: Any):
        self.collection = db[self.collection_name]

    async def locked_until(self, key: str, now: datetime) -> datetime | None:
        """When the key is locked, until when."""
        doc = await self.collection.find_one({"key": key, "locked_until": {"$gt": now}})
        return doc["locked_until"] if doc else None

    async def record_failure(
        self, key: str, *, now: datetime, window: timedelta, max_failures: int, lockout: timedelta
    ) -> datetime | None:
        """Count a failure atomically; returns the lock end when this failure locks the account."""
        # A window that has expired restarts at 1; otherwise the count goes up by one.
        expired = {"$lte": [{"$ifNull": ["$window_start", now - window]}, now - window]}
        doc = await self.collection.find_one_and_update(
            {"key": key},
            [
                {
                    "$set": {
                        "failures": {"$cond": [expired, 1, {"$add": [{"$ifNull": ["$failures", 0]}, 1]}]},
                        "window_start": {"$cond": [expired, now, "$window_start"]},
                    }
                }
            ],
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if doc["failures"] >= max_failures:
            until = now + lockout
            await self.collection.update_one(
                {"key": key}, {"$set": {"locked_until": until, "failures": 0, "window_start": None}}
            )
            return until
        return None

    async def reset(self, key: str) -> None:
        """Forget failures after a successful login."""
        await self.collection.delete_one({"key": key})


class AuditRepository(Repository[AuditRecord]):
    """audit_log: append-only."""

    collection_name = "audit_log"
    model = AuditRecord

    async def record(
        self, *, actor: str, action: str, resource: str, at: datetime,
        ip: str | None = None, patient_id: str | None = None, outcome: AuditOutcome = AuditOutcome.SUCCESS,
    ) -> AuditRecord:
        """Append one audit record."""
        return await self.insert(
            AuditRecord(
                id=new_id(), actor=actor, action=action, resource=resource, patient_id=patient_id,
                at=at, ip=ip, outcome=outcome,
            )
        )

    async def page(self, *, skip: int, limit: int, actor: str | None = None) -> tuple[list[AuditRecord], int]:
        """Newest first, with the total."""
        query: dict[str, Any] = {"actor": actor} if actor else {}
        cursor = self.collection.find(query).sort("at", DESCENDING).skip(skip).limit(limit)
        items = [AuditRecord.from_mongo(doc) async for doc in cursor]
        return items, await self.collection.count_documents(query)


class KbArticleRepository(Repository[KbArticle]):
    """kb_articles."""

    collection_name = "kb_articles"
    model = KbArticle

    async def all(self) -> list[KbArticle]:
        """Every article (the knowledge base is small)."""
        return [KbArticle.from_mongo(doc) async for doc in self.collection.find({})]
