"""Admin API schemas for patients: search page, detail with consent and campaigns, edits, consent, CSV import."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from core.names import PersonName
from core.phone import PhoneInput
from models.enums import ConsentStatus
from schemas.admin import CampaignRead, PatientCreate, PatientRead, check_zone

__all__ = ["PatientCreate"]  # POST /patients takes the same body as a campaign's new patient


class _FromAttributes(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ChannelConsentRead(_FromAttributes):
    """One channel's consent: status, where it came from, who recorded it (a staff email) and when."""

    status: ConsentStatus
    source: str | None
    by: str | None
    at: datetime | None


class ConsentRead(_FromAttributes):
    """Consent per channel."""

    email: ChannelConsentRead
    sms: ChannelConsentRead
    call: ChannelConsentRead


class PatientWithConsentRead(PatientRead):
    """A patient with their consent."""

    consent: ConsentRead
    updated_at: datetime


class PatientPage(BaseModel):
    """A page of patients, by name."""

    items: list[PatientWithConsentRead]
    total: int
    page: int
    page_size: int


class PatientDetailRead(PatientWithConsentRead):
    """A patient with their consent and campaigns (newest first)."""

    campaigns: list[CampaignRead]


class PatientUpdate(BaseModel):
    """PATCH /patients/{id}: the fields given are changed (null clears email, phone or timezone)."""

    model_config = ConfigDict(extra="forbid")

    name: PersonName | None = None
    email: EmailStr | None = None
    phone: PhoneInput | None = None
    timezone: str | None = Field(default=None, max_length=64, description="IANA name, e.g. Europe/Berlin")

    _zone = field_validator("timezone")(check_zone)


class ConsentUpdate(BaseModel):
    """PUT /patients/{id}/consent/{channel}."""

    status: ConsentStatus = Field(description="`revoked` is an opt-out of the channel")
    source: str = Field(min_length=1, max_length=100, description="where the consent came from, e.g. phone call")
    over_opt_out: bool = Field(
        default=False,
        description="required to grant (or reset) a channel the patient opted out of: they asked for it again",
    )


class RejectedRowRead(BaseModel):
    """A row the import refused."""

    line: int
    reason: str


class PatientImportRead(BaseModel):
    """What a CSV import did; the rejected rows as CSV are at `rejected_csv_url` until `expires_at`."""

    id: str
    rows: int
    imported: int
    updated: int
    unchanged: int
    rejected: list[RejectedRowRead]
    rejected_csv_url: str | None
    expires_at: datetime
