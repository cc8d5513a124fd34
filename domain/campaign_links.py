"""Signed campaign booking links: `BOOKING_URL?c=<token>` attributes a booking to the campaign that sent it.

The token names only the campaign (its 12 id bytes), an expiry and a 128-bit HMAC tag under the campaign key:
no patient data, 43 URL-safe characters, so an SMS with it stays short. It proves the holder received one of
that campaign's messages; it is not a login (BookingService decides what it may do).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from core.config import Settings
from core.security import sign_compact_token, verify_compact_token
from models.base import is_object_id

CAMPAIGN_LINK_PURPOSE = "campaign-link"
CAMPAIGN_QUERY_PARAMETER = "c"


def campaign_token(settings: Settings, campaign_id: str, *, now: datetime) -> str:
    """The signed, expiring token for one campaign (CAMPAIGN_LINK_TTL_DAYS from `now`)."""
    return sign_compact_token(
        purpose=CAMPAIGN_LINK_PURPOSE,
        subject=bytes.fromhex(campaign_id),
        expires=now + timedelta(days=settings.CAMPAIGN_LINK_TTL_DAYS),
        key=settings.key("campaign"),
    )


def campaign_booking_url(settings: Settings, campaign_id: str, *, now: datetime) -> str:
    """The booking page link for a campaign's patient: BOOKING_URL with `c=<token>` added to its query."""
    if not is_object_id(campaign_id):
        # A campaign another writer stored under a non-ObjectId id: the plain page, unattributed, still works.
        return settings.booking_url
    token = campaign_token(settings, campaign_id, now=now)
    parts = urlsplit(settings.booking_url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}{CAMPAIGN_QUERY_PARAMETER}={token}"))


def verify_campaign_token(settings: Settings, token: str, *, now: datetime) -> str | None:
    """The campaign id a valid, unexpired campaign token names, else None (bad, tampered or expired)."""
    subject = verify_compact_token(token, purpose=CAMPAIGN_LINK_PURPOSE, key=settings.key("campaign"), now=now)
    if subject is None or len(subject) != 12:
        return None
    return subject.hex()
