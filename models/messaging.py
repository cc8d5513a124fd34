"""At-most-once outbound sends, inbound webhook events, and Gmail sync state."""

from __future__ import annotations

from datetime import UTC, datetime

from models.base import Document
from models.campaign import Lease
from models.enums import Channel, InboundSource, InboundStatus, OutboundStatus


class OutboundMessage(Document):
    """One send per (campaign, attempt, channel), ever."""

    object_id_fields = ("campaign_id",)

    campaign_id: str
    attempt: int
    channel: Channel
    status: OutboundStatus = OutboundStatus.CLAIMED
    provider_message_id: str | None = None
    error: str | None = None
    lease: Lease | None = None
    created_at: datetime
    updated_at: datetime


class InboundEvent(Document):
    """A webhook delivery or provider message, recorded under its external id before any action."""

    source: InboundSource
    external_id: str
    status: InboundStatus = InboundStatus.PENDING
    attempts: int = 0
    payload: dict[str, object] | None = None
    error: str | None = None
    reason: str | None = None
    lease: Lease | None = None
    # When the current processing lease ends (the epoch when free): claims need no `$or`.
    lease_until: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    # The auto-reply to this message, if any: claimed → sent (or unknown after a crash mid-send).
    reply_status: OutboundStatus | None = None
    reply_lease: Lease | None = None
    reply_message_id: str | None = None
    created_at: datetime
    updated_at: datetime


class StaffReply(Document):
    """The one staff answer to a handoff: claimed before the email goes out, sent or failed (may be retried)."""

    object_id_fields = ("campaign_id",)

    key: str  # "<campaign id>:<handoff time in ms>": unique
    campaign_id: str
    actor: str  # the staff user who sends it
    status: OutboundStatus = OutboundStatus.CLAIMED
    provider_message_id: str | None = None
    error: str | None = None
    lease: Lease | None = None
    created_at: datetime
    updated_at: datetime


class ReplySlot(Document):
    """One of the limited auto-replies (a thread's one per hour, a patient's N per day), held by one message."""

    key: str  # "thread:<thread id>" or "sender:<patient id>:<n>"
    event_id: str  # the inbound event whose reply holds it
    until: datetime


class GmailState(Document):
    """Sync cursor for one mailbox."""

    email_address: str
    history_id: int | None = None
    watch_expiration: datetime | None = None
    last_push_at: datetime | None = None
    updated_at: datetime
