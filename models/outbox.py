"""The development outbox: every email and SMS the app would have sent when no provider is configured."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from models.base import Document, Stored
from models.enums import Channel


class OutboxAttachment(Stored):
    """A file sent with an email, kept whole (development mail is small)."""

    filename: str
    content_type: str
    data: bytes


class OutboxMessage(Document):
    """One message as it would have left: an email (text, optional HTML, headers, files), an SMS or a call."""

    id_time_fields = ("created_at",)

    channel: Channel
    kind: str  # what it is, for the list: outreach, reply, confirmation, sms, call, ...
    to: str
    sender: str = ""
    subject: str = ""
    text: str
    html: str | None = None
    message_id: str  # the Message-ID header of an email, the provider-style id (SM…, CA…) of an SMS or call
    headers: dict[str, str] = Field(default_factory=dict)
    attachments: list[OutboxAttachment] = Field(default_factory=list)
    created_at: datetime
