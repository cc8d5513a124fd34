"""Indexes exist and enforce uniqueness; repositories round-trip models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from core.container import Container
from db.indexes import INDEXES, RETIRED_INDEXES, ensure_indexes
from models.appointment import Appointment, SlotClaim
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails, Handoff
from models.enums import (
    AppointmentStatus,
    CampaignStatus,
    CampaignType,
    Channel,
    Direction,
    InboundSource,
    Intent,
    Role,
)
from models.interaction import Interaction
from models.messaging import InboundEvent, OutboundMessage
from models.patient import Patient

NOW = datetime(2026, 3, 29, 10, 15, tzinfo=UTC)


def patient(email: str | None = "ann@example.com") -> Patient:
    return Patient(id=new_id(), name="Ann Lee", email=email, phone="+15550001111", created_at=NOW, updated_at=NOW)


async def test_every_declared_index_exists(container: Container) -> None:
    for collection, models in INDEXES.items():
        info = await container.db[collection].index_information()
        for model in models:
            assert model.document["name"] in info, (collection, model.document["name"])


async def test_retired_indexes_are_dropped_and_declared_ones_kept(container: Container) -> None:
    for collection, names in RETIRED_INDEXES.items():
        for name in names:
            await container.db[collection].create_index(name, name=name)  # as an earlier version left them
    await ensure_indexes(container.db)
    await ensure_indexes(container.db)  # idempotent
    for collection, names in RETIRED_INDEXES.items():
        info = await container.db[collection].index_information()
        assert not set(names) & set(info), collection
        assert {m.document["name"] for m in INDEXES[collection]} <= set(info)


async def test_unique_patient_email_but_many_without_email(container: Container) -> None:
    repo = container.repos.patients
    await repo.insert(patient())
    with pytest.raises(DuplicateKeyError):
        await repo.insert(patient())
    await repo.insert(patient(email=None))
    await repo.insert(patient(email=None))
    assert await repo.count() == 3


async def test_unique_slot_claim_per_doctor_bucket(container: Container) -> None:
    repo = container.repos.slot_claims
    appointment_id = new_id()
    await repo.insert(SlotClaim(id=new_id(), doctor="Dr. Smith", bucket_start=NOW, appointment_id=appointment_id))
    with pytest.raises(DuplicateKeyError):
        await repo.insert(SlotClaim(id=new_id(), doctor="Dr. Smith", bucket_start=NOW, appointment_id=new_id()))
    await repo.insert(SlotClaim(id=new_id(), doctor="Dr. Patel", bucket_start=NOW, appointment_id=appointment_id))


async def test_unique_outbound_key_inbound_event_and_provider_message(container: Container) -> None:
    repos = container.repos
    campaign_id = new_id()
    msg = OutboundMessage(
        id=new_id(), campaign_id=campaign_id, attempt=1, channel=Channel.EMAIL, created_at=NOW, updated_at=NOW
    )
    await repos.outbound_messages.insert(msg)
    with pytest.raises(DuplicateKeyError):
        await repos.outbound_messages.insert(msg.model_copy(update={"id": new_id()}))
    event = InboundEvent(id=new_id(), source=InboundSource.GMAIL, external_id="m-1", created_at=NOW, updated_at=NOW)
    assert await repos.inbound_events.record(event) is True
    assert await repos.inbound_events.record(event.model_copy(update={"id": new_id()})) is False
    first = Interaction(
        id=new_id(), direction=Direction.INCOMING, channel=Channel.EMAIL, timestamp=NOW, provider_message_id="gmail-1"
    )
    await repos.interactions.insert(first)
    with pytest.raises(DuplicateKeyError):
        await repos.interactions.insert(first.model_copy(update={"id": new_id()}))


async def test_unique_user_email(container: Container) -> None:
    users = container.repos.users
    await users.create_or_reset(email="A@clinic.test", password_hash="h1", role=Role.STAFF, now=NOW)
    again = await users.create_or_reset(email="a@clinic.test", password_hash="h2", role=Role.ADMIN, now=NOW)
    assert again.role == Role.ADMIN and again.password_hash == "h2"
    assert await users.count() == 1


async def test_campaign_round_trip_keeps_types_and_references(container: Container) -> None:
    owner = await container.repos.patients.insert(patient())
    campaign = Campaign(
        id=new_id(),
        patient_id=owner.id,
        campaign_type=CampaignType.RECALL,
        status=CampaignStatus.HANDOFF,
        channel=Channel.SMS,
        follow_up_details=FollowUpDetails(attempts_made=2, next_follow_up_at=NOW + timedelta(days=2)),
        handoff=Handoff(reason="question not in knowledge base", at=NOW),
        created_at=NOW,
        updated_at=NOW,
    )
    await container.repos.campaigns.insert(campaign)
    loaded = await container.repos.campaigns.get(campaign.id)
    assert loaded == campaign
    raw = await container.db["campaigns"].find_one({"_id": campaign.to_mongo()["_id"]})
    assert raw is not None and type(raw["patient_id"]).__name__ == "ObjectId"
    assert raw["status"] == "HANDOFF"
    assert [c.id for c in await container.repos.campaigns.list_for_patient(owner.id)] == [campaign.id]


async def test_appointment_and_interactions_round_trip(container: Container) -> None:
    appointment = Appointment(
        id=new_id(),
        patient_id=new_id(),
        doctor="Dr. Smith",
        service="Check-up",
        start=NOW,
        duration_minutes=45,
        status=AppointmentStatus.NO_SHOW,
        created_at=NOW,
        updated_at=NOW,
    )
    await container.repos.appointments.insert(appointment)
    assert await container.repos.appointments.get(appointment.id) == appointment
    campaign_id = new_id()
    later = Interaction(
        id=new_id(),
        campaign_id=campaign_id,
        direction=Direction.INCOMING,
        channel=Channel.EMAIL,
        timestamp=NOW + timedelta(hours=1),
        intent=Intent.QUESTION,
    )
    earlier = Interaction(
        id=new_id(), campaign_id=campaign_id, direction=Direction.OUTGOING, channel=Channel.EMAIL, timestamp=NOW
    )
    await container.repos.interactions.insert(later)
    await container.repos.interactions.insert(earlier)
    assert await container.repos.interactions.for_campaign(campaign_id) == [earlier, later]


async def test_malformed_ids_find_nothing(container: Container) -> None:
    assert await container.repos.campaigns.get("not-an-id") is None
    assert await container.repos.campaigns.delete("zzz") is False


async def test_named_lease_is_exclusive_until_expiry(container: Container) -> None:
    leases = container.repos.leases
    ttl = timedelta(minutes=5)
    assert await leases.claim("gmail-watch", owner="a", ttl=ttl, now=NOW)
    assert not await leases.claim("gmail-watch", owner="b", ttl=ttl, now=NOW + timedelta(minutes=1))
    assert await leases.claim("gmail-watch", owner="a", ttl=ttl, now=NOW + timedelta(minutes=2))
    assert await leases.claim("gmail-watch", owner="b", ttl=ttl, now=NOW + timedelta(minutes=8))
    await leases.release("gmail-watch", owner="a")
    assert not await leases.claim("gmail-watch", owner="a", ttl=ttl, now=NOW + timedelta(minutes=9))
