"""Agent API schemas: the product guide's trigger body, or a campaign id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from core.names import PersonName
from core.phone import PhoneInput
from models.enums import CampaignStatus, CampaignType, Channel
from schemas.common import any_of_shapes


class TriggerPatient(BaseModel):
    """The patient to contact (created when new, matched by email)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=any_of_shapes({"email": "present"}, {"phone": "present"}),
    )

    name: PersonName
    email: EmailStr | None = None
    phone: PhoneInput | None = None
    timezone: str | None = Field(default=None, max_length=64)
    sms_consent: bool = False
    call_consent: bool = False

    @model_validator(mode="after")
    def _reachable(self) -> TriggerPatient:
        if not self.email and not self.phone:
            raise ValueError("patient needs an email or a phone number")
        return self


class TriggerFollowUp(BaseModel):
    """Attempt counters as the product guide's example sends them."""

    attempts_made: int = Field(default=0, ge=0, le=10)
    max_attempts: int | None = Field(default=None, ge=1, le=10, description="default: FOLLOW_UP_MAX_ATTEMPTS")


class TriggerCampaign(BaseModel):
    """The campaign to run."""

    campaign_type: CampaignType
    status: Literal["ATTEMPTING_RECOVERY", "ATTEMPTING_RECALL"] | None = None
    channel: Channel = Channel.EMAIL
    follow_up_details: TriggerFollowUp = Field(default_factory=TriggerFollowUp)

    @model_validator(mode="after")
    def _status_matches_type(self) -> TriggerCampaign:
        if self.status and self.status != f"ATTEMPTING_{self.campaign_type.value}":
            raise ValueError(f"status {self.status} does not match campaign_type {self.campaign_type.value}")
        details = self.follow_up_details
        if details.max_attempts is not None and details.attempts_made >= details.max_attempts:
            raise ValueError("attempts_made must be below max_attempts")
        return self


class TriggerRequest(BaseModel):
    """Either {"campaign_id"} or {"patient", "campaign"}."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=any_of_shapes(
            {"campaign_id": "present", "patient": "absent", "campaign": "absent"},
            {"campaign_id": "absent", "patient": "present", "campaign": "present"},
        ),
    )

    campaign_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{24}$")
    patient: TriggerPatient | None = None
    campaign: TriggerCampaign | None = None
    ignore_quiet_hours: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> TriggerRequest:
        if self.campaign_id and (self.patient or self.campaign):
            raise ValueError("give either campaign_id or patient and campaign, not both")
        if not self.campaign_id and not (self.patient and self.campaign):
            raise ValueError("give campaign_id, or both patient and campaign")
        return self


class TriggerRead(BaseModel):
    """What the run did."""

    campaign_id: str
    interaction_id: str | None
    channel: Channel | None
    status: CampaignStatus
    next_follow_up_at: datetime | None
    action: str
    detail: str
