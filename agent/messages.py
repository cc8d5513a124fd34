"""What the patient receives on each channel: the email with its footer, the SMS text, the call script."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import make_msgid

from core.config import Settings
from domain.consent import unsubscribe_url
from models.enums import Channel
from models.patient import Patient
from services.email.port import OutgoingEmail
from services.llm.schemas import OutreachMessage

EMAIL_FOOTER = """
—
{clinic_name}
{clinic_address}
Phone: {clinic_phone}
Book online: {booking_link}

You receive this because you are a patient of {clinic_name}.
Unsubscribe from these emails: {unsubscribe_link}
"""

SMS_OPT_OUT = "Reply STOP to opt out."
_URL = re.compile(r"https?://\S+|www\.\S+")


def outreach_email(
    settings: Settings, patient: Patient, message: OutreachMessage, *, now: datetime, booking_link: str
) -> OutgoingEmail:
    """The email: body, clinic footer with booking link, phone, address and unsubscribe link, and RFC 8058 headers."""
    link = unsubscribe_url(settings, patient.id, now=now)
    footer = EMAIL_FOOTER.format(
        clinic_name=settings.CLINIC_NAME,
        clinic_address=settings.CLINIC_ADDRESS,
        clinic_phone=settings.CLINIC_PHONE,
        booking_link=booking_link,
        unsubscribe_link=link,
    )
    domain = settings.SMTP_FROM_EMAIL.rpartition("@")[2] or "localhost"
    return OutgoingEmail(
        to=patient.email or "",
        subject=message.subject,
        text=f"{message.body.rstrip()}\n{footer}",
        headers={
            "Message-ID": make_msgid(domain=domain),
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def sms_text(message: OutreachMessage) -> str:
    """The short text, always ending with the opt-out line."""
    text = message.short_text.strip()
    return text if text.endswith(SMS_OPT_OUT) else f"{text} {SMS_OPT_OUT}"


def call_script(message: OutreachMessage) -> str:
    """What the call says: the short text without links (the clinic number is added by the adapter)."""
    return " ".join(_URL.sub("", message.short_text).split())


def logged_body(channel: Channel, message: OutreachMessage) -> str:
    """The conversation's record of what was sent on `channel` (the email without its footer)."""
    if channel == Channel.EMAIL:
        return f"{message.subject}\n\n{message.body}"
    return sms_text(message) if channel == Channel.SMS else call_script(message)
