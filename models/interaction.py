"""The conversation log."""

from __future__ import annotations

from datetime import datetime

from models.base import Document
from models.enums import Channel, Direction, Intent


class Interaction(Document):
    """One incoming or outgoing message or call."""

    object_id_fields = ("campaign_id", "patient_id")
    id_time_fields = ("timestamp",)

    campaign_id: str | None = None
    patient_id: str | None = None
    direction: Direction
    channel: Channel = Channel.EMAIL
    timestamp: datetime
    body: str = ""
    summary: str = ""
    intent: Intent | None = None
    provider_message_id: str | None = None
    thread_id: str | None = None
    message_id_header: str | None = None
    kind: str | None = None  # outreach | auto_reply | patient_reply | staff
