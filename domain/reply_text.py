"""How every email reply to a patient is laid out (the reply agent's and staff's): greeting, body, sign-off, `Re:`."""

from __future__ import annotations

from datetime import datetime

from core.config import Settings
from domain.campaign_links import campaign_booking_url
from models.patient import Patient

GREETING = "Hi {first_name},"
SIGN_OFF = "\n\nKind regards,\n{clinic_name}\n{clinic_phone}"
# The line every staff reply's suggestion ends with (the reply agent's texts place the link themselves).
BOOKING_LINE = "If you would like to come in, you can choose a time that suits you here: {booking_link}"
SUBJECT_MAX = 200


def reply_subject(subject: str) -> str:
    """`Re: <subject>` without stacking prefixes."""
    stripped = " ".join(subject.split())[:SUBJECT_MAX]
    return stripped if stripped.lower().startswith("re:") else f"Re: {stripped or 'your message'}"


def first_name(patient: Patient | None) -> str:
    """The patient's first name, or "there" ("Hi there,")."""
    return patient.name.split()[0] if patient and patient.name.split() else "there"


def booking_link(settings: Settings, campaign_id: str | None, *, now: datetime) -> str:
    """The campaign's signed link, which attributes a booking made from the reply; without a campaign, the page."""
    return campaign_booking_url(settings, campaign_id, now=now) if campaign_id else settings.booking_url


def letter(settings: Settings, patient: Patient | None, body: str) -> str:
    """A full reply: greeting, the body as given, the clinic's sign-off."""
    sign_off = SIGN_OFF.format(clinic_name=settings.CLINIC_NAME, clinic_phone=settings.CLINIC_PHONE)
    return GREETING.format(first_name=first_name(patient)) + "\n\n" + body + sign_off


def split_note(body: str) -> tuple[str, str]:
    """A stored incoming email note ("<subject>\\n\\n<text>") as (subject, text)."""
    subject, sep, text = body.partition("\n\n")
    return (subject, text) if sep else ("", body)
