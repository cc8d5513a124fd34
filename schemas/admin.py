"""Admin API schemas: dashboard, campaigns, conversation, handoff queue, staff accounts, audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from core.names import PersonName
from core.phone import PhoneInput
from core.security import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from models.campaign import FollowUpDetails, Handoff
from models.enums import AuditOutcome, CampaignStatus, CampaignType, Channel, Direction, Intent, Role
from schemas.auth import MAX_EMAIL_LENGTH, UserRead
from schemas.common import any_of_shapes

OBJECT_ID = r"^[0-9a-f]{24}$"


def check_zone(value: str | None) -> str | None:
    """The value when it is an IANA time zone name (or None)."""
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("timezone must be an IANA name such as Europe/Berlin") from exc
    return value


class _FromAttributes(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---- dashboard (ARCHITECTURE §4) --------------------------------------------------------------------------------


class KpisRead(_FromAttributes):
    """Headline counts."""

    active_recovery: int
    active_recall: int
    engaged_leads: int
    handoffs: int
    recoveries_this_month: int
    booked_appointments_this_month: int


class RateRead(_FromAttributes):
    """Converted / created in a window, in [0, 1]; null when nothing was created."""

    month: float | None
    lifetime: float | None
    trailing_90d: float | None


class RatesRead(_FromAttributes):
    """Rates per campaign type."""

    recovery: RateRead
    recall: RateRead


class PerformanceMonthRead(_FromAttributes):
    """Campaigns started and converted in one local month."""

    month: str
    recovery_started: int
    recovery_converted: int
    recall_started: int
    recall_converted: int


class BreakdownRead(_FromAttributes):
    """Campaigns by state."""

    active: int
    recovered: int
    failed: int
    declined: int
    handoffs: int


class AppointmentsMonthRead(_FromAttributes):
    """Appointments by status in one local month."""

    month: str
    booked: int
    completed: int
    cancelled: int
    no_show: int


class ChartsRead(_FromAttributes):
    """Dashboard charts."""

    performance_12m: list[PerformanceMonthRead]
    campaign_breakdown: BreakdownRead
    appointments_trend: list[AppointmentsMonthRead]


class DashboardRead(_FromAttributes):
    """GET /api/v1/admin/dashboard-stats."""

    generated_at: datetime
    timezone: str
    kpis: KpisRead
    rates: RatesRead
    charts: ChartsRead


# ---- campaigns ---------------------------------------------------------------------------------------------------


class CampaignRead(_FromAttributes):
    """A campaign's own fields."""

    id: str
    patient_id: str
    campaign_type: CampaignType
    status: CampaignStatus
    channel: Channel
    follow_up_details: FollowUpDetails
    engagement_summary: str
    handoff: Handoff | None
    failure_reason: str | None
    converted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CampaignListItem(CampaignRead):
    """A campaign in the staff list, with its patient's name and email."""

    patient_name: str | None
    patient_email: str | None


class CampaignPage(BaseModel):
    """A page of campaigns."""

    items: list[CampaignListItem]
    total: int
    page: int
    page_size: int


class PatientRead(_FromAttributes):
    """A patient as staff see it."""

    id: str
    name: str
    email: str | None
    phone: str | None
    timezone: str | None
    opted_out_channels: list[Channel]
    created_at: datetime


class InteractionRead(_FromAttributes):
    """One message or call of a conversation."""

    id: str
    direction: Direction
    channel: Channel
    timestamp: datetime
    body: str
    summary: str
    intent: Intent | None


class CampaignDetailRead(CampaignRead):
    """A campaign with its patient and whole conversation, oldest first."""

    patient: PatientRead | None
    conversation: list[InteractionRead]


class PatientCreate(BaseModel):
    """A patient given by contact details: found by email (else phone) or created."""

    model_config = ConfigDict(json_schema_extra=any_of_shapes({"email": "present"}, {"phone": "present"}))

    name: PersonName
    email: EmailStr | None = None
    phone: PhoneInput | None = None
    timezone: str | None = Field(default=None, max_length=64, description="IANA name, e.g. Europe/Berlin")

    _zone = field_validator("timezone")(check_zone)

    @model_validator(mode="after")
    def _contact(self) -> PatientCreate:
        if not self.email and not self.phone:
            raise ValueError("give an email or a phone")
        return self


class CampaignCreate(BaseModel):
    """POST /api/v1/admin/campaigns: exactly one of `patient_id` and `patient`."""

    model_config = ConfigDict(
        json_schema_extra=any_of_shapes(
            {"patient_id": "present", "patient": "absent"}, {"patient": "present", "patient_id": "absent"}
        )
    )

    patient_id: str | None = Field(default=None, pattern=OBJECT_ID)
    patient: PatientCreate | None = None
    campaign_type: CampaignType
    channel: Channel = Channel.EMAIL
    max_attempts: int = Field(default=3, ge=1, le=10)
    first_attempt_at: AwareDatetime | None = Field(default=None, description="default: now")

    @model_validator(mode="after")
    def _one_patient(self) -> CampaignCreate:
        if (self.patient_id is None) == (self.patient is None):
            raise ValueError("give exactly one of patient_id and patient")
        return self


class HandoffResolve(BaseModel):
    """How staff resolved a handoff."""

    note: str = Field(min_length=1, max_length=2000)
    outcome: Literal["engaged", "closed"]


class HandoffDraftRead(BaseModel):
    """A suggested answer to a handoff, and the key that sends it at most once."""

    campaign_id: str
    key: str = Field(description="send it back with the reply: one answer per handoff")
    text: str
    source: Literal["llm", "template"]
    acknowledged: bool = Field(description="the agent already sent an automatic reply to the last message")


class HandoffReplyCreate(BaseModel):
    """Staff's answer to a handoff, sent in the patient's email thread."""

    text: str = Field(min_length=1, max_length=5000)
    key: str = Field(min_length=1, max_length=100, description="the draft's key")


class LastMessageRead(_FromAttributes):
    """The patient's last incoming message."""

    channel: Channel
    timestamp: datetime
    body: str
    summary: str
    intent: Intent | None


class HandoffRead(BaseModel):
    """A campaign waiting for staff."""

    campaign_id: str
    patient_id: str
    patient_name: str | None
    patient_email: str | None
    campaign_type: CampaignType
    channel: Channel
    reason: str | None
    handoff_at: datetime | None
    last_incoming: LastMessageRead | None


class HandoffPage(BaseModel):
    """A page of the handoff queue."""

    items: list[HandoffRead]
    total: int
    page: int
    page_size: int


class AuditRead(_FromAttributes):
    """One audit record."""

    id: str
    actor: str
    action: str
    resource: str
    patient_id: str | None
    at: datetime
    ip: str | None
    outcome: AuditOutcome


class AuditPage(BaseModel):
    """A page of the audit trail, newest first."""

    items: list[AuditRead]
    total: int
    page: int
    page_size: int


# ---- staff accounts ----------------------------------------------------------------------------------------------

PASSWORD_FIELD = Field(
    default=None,
    min_length=MIN_PASSWORD_LENGTH,
    max_length=MAX_PASSWORD_LENGTH,
    json_schema_extra={"format": "password"},
    description=f"at least {MIN_PASSWORD_LENGTH} characters; leave out to have one generated (returned once)",
)


class UserCreate(BaseModel):
    """POST /api/v1/admin/users: a staff or admin account."""

    email: str = Field(min_length=1, max_length=MAX_EMAIL_LENGTH, description="the login email (lower-cased)")
    role: Role = Role.STAFF
    password: str | None = PASSWORD_FIELD


class PasswordResetCreate(BaseModel):
    """POST /api/v1/admin/users/{id}/reset-password."""

    password: str | None = PASSWORD_FIELD


class UserPasswordRead(UserRead):
    """An account just created or reset."""

    generated_password: str | None = Field(
        description="the generated password when none was given: shown this once, never stored in plain text"
    )


class UserPage(BaseModel):
    """A page of staff accounts, by email."""

    items: list[UserRead]
    total: int
    page: int
    page_size: int
