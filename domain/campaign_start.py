"""Starting a campaign: the one path staff create, /agent/trigger and the CSV import take."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.config import Settings
from core.errors import Conflict, Unprocessable
from db.repositories import Repositories
from domain.campaigns import NewPatient, attempting_status
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignType, Channel

# A requested first attempt this far in the past is taken as "now" (clock skew); further back is refused.
PAST_TOLERANCE = timedelta(minutes=5)


class ActiveCampaignExists(Conflict):
    """409: the patient already has an active campaign of that type."""

    error = "active_campaign_exists"
    campaign_id: str | None = None  # the active one, when the caller looked it up


@dataclass(frozen=True)
class NewCampaign:
    """A campaign to start: for an existing patient id or for a patient given by contact details."""

    campaign_type: CampaignType
    patient_id: str | None = None
    patient: NewPatient | None = None
    channel: Channel = Channel.EMAIL
    max_attempts: int | None = None  # None: FOLLOW_UP_MAX_ATTEMPTS
    attempts_made: int = 0
    first_attempt_at: datetime | None = None


def first_attempt(requested: datetime | None, now: datetime) -> datetime:
    """When the first attempt is due: now, or the requested time (a little in the past counts as now)."""
    if requested is None:
        return now
    if requested < now - PAST_TOLERANCE:
        raise Unprocessable("first_attempt_at is in the past", error="first_attempt_in_past")
    return max(requested, now)


async def start_campaign(
    repos: Repositories, new: NewCampaign, *, settings: Settings, patient_id: str, now: datetime
) -> Campaign:
    """Insert the patient's new active campaign, its first attempt due; ActiveCampaignExists when one of that
    type is active (the campaigns repository holds the one-active-per-type marker)."""
    campaign = Campaign(
        id=new_id(),
        patient_id=patient_id,
        campaign_type=new.campaign_type,
        status=attempting_status(new.campaign_type),
        channel=new.channel,
        follow_up_details=FollowUpDetails(
            attempts_made=new.attempts_made,
            max_attempts=new.max_attempts or settings.FOLLOW_UP_MAX_ATTEMPTS,
            next_follow_up_at=first_attempt(new.first_attempt_at, now),
            cadence_days=settings.follow_up_cadence,
        ),
        created_at=now,
        updated_at=now,
    )
    if not await repos.campaigns.insert_active(campaign):
        raise ActiveCampaignExists(f"The patient already has an active {new.campaign_type.value} campaign")
    return campaign
