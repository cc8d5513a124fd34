"""Outreach campaigns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from models.base import Document, Stored
from models.enums import CampaignStatus, CampaignType, Channel
from models.interaction import Interaction
from models.patient import Patient


class FollowUpDetails(Stored):
    """Attempt counting and the next scheduled touch."""

    attempts_made: int = 0
    max_attempts: int = 3
    next_follow_up_at: datetime | None = None
    last_attempt_at: datetime | None = None
    cadence_days: list[int] = Field(default_factory=lambda: [2, 5, 10])
    nudged_at: datetime | None = None  # when the engaged campaign's one follow-up on the reply was claimed


class Handoff(Stored):
    """Why and when a campaign was handed to staff."""

    reason: str = "unspecified"
    at: datetime | None = None  # None only in a handoff another writer stored without its time
    resolved_at: datetime | None = None
    note: str | None = None


class Lease(Stored):
    """A worker's claim on a campaign."""

    owner: str
    until: datetime
    claim: str | None = None  # which claim took it (a worker may hold several)


class Conversion(Stored):
    """Which booking converted the campaign and the state it left, restored if that booking is cancelled."""

    appointment_id: str
    previous_status: CampaignStatus
    previous_next_follow_up_at: datetime | None = None


class Campaign(Document):
    """A Recovery or Recall campaign for one patient."""

    object_id_fields = ("patient_id",)

    patient_id: str
    campaign_type: CampaignType
    status: CampaignStatus
    channel: Channel = Channel.EMAIL
    follow_up_details: FollowUpDetails = Field(default_factory=FollowUpDetails)
    engagement_summary: str = ""
    handoff: Handoff | None = None
    failure_reason: str | None = None
    converted_at: datetime | None = None
    engaged_at: datetime | None = None  # when it last became ENGAGED (None: before this was recorded)
    conversion: Conversion | None = None
    created_at: datetime
    updated_at: datetime
    lease: Lease | None = None


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign with its patient's name and email (a row of the staff list)."""

    campaign: Campaign
    patient_name: str | None
    patient_email: str | None


@dataclass(frozen=True)
class CampaignDetail:
    """A campaign, its patient and every interaction, oldest first."""

    campaign: Campaign
    patient: Patient | None
    conversation: list[Interaction]


@dataclass(frozen=True)
class HandoffItem:
    """A campaign waiting for staff, with the patient's last incoming message."""

    summary: CampaignSummary
    last_incoming: Interaction | None
