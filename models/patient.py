"""Patients and their per-channel consent."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from models.base import Document, Stored
from models.enums import Channel, ConsentStatus


class ChannelConsent(Stored):
    """Consent for one channel: status, where it came from, who recorded it and when."""

    status: ConsentStatus = ConsentStatus.UNKNOWN
    source: str | None = None
    by: str | None = None  # the staff user who recorded it; None when the patient acted themselves
    at: datetime | None = None


class Consent(Stored):
    """Consent per channel."""

    email: ChannelConsent = Field(default_factory=ChannelConsent)
    sms: ChannelConsent = Field(default_factory=ChannelConsent)
    call: ChannelConsent = Field(default_factory=ChannelConsent)


class Patient(Document):
    """A clinic patient."""

    name: str
    email: str | None = None
    phone: str | None = None
    timezone: str | None = None
    consent: Consent = Field(default_factory=Consent)
    opted_out_channels: list[Channel] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class RejectedRow(Stored):
    """A CSV row the import refused: its line, why, and its cells (kept for the staff member to download)."""

    line: int
    reason: str
    values: dict[str, str]


class PatientImport(Document):
    """The outcome of one CSV upload, kept for a day so the rejected rows can be downloaded (TTL on expires_at)."""

    actor: str
    rows: int
    imported: int
    updated: int
    unchanged: int
    header: list[str]
    rejected: list[RejectedRow]
    created_at: datetime
    expires_at: datetime
