"""State of one outreach run: one campaign, one attempt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict

from domain.outreach import Nudge, SendStatus
from models.campaign import Campaign
from models.enums import Channel
from models.interaction import Interaction
from models.patient import Patient
from services.llm.schemas import OutreachMessage


@dataclass(frozen=True)
class SendOutcome:
    """What happened to the send step."""

    status: SendStatus
    provider_message_id: str | None = None
    error: str | None = None


class OutreachState(TypedDict, total=False):
    """Partial updates from each node accumulate here."""

    campaign: Campaign
    patient: Patient
    history: list[Interaction]  # the conversation before this run, oldest first
    attempt: int
    nudge: Nudge  # present when this attempt is an engaged campaign's follow-up on the patient's reply
    message: OutreachMessage
    drafted_by: Literal["llm", "template"]
    booking_link: str  # the campaign's signed booking link the message carries
    channel: Channel | None
    channel_problem: str
    all_opted_out: bool
    send: SendOutcome
    message_id_header: str | None
    interaction_id: str | None
    logged: Interaction | None  # what this run added to the conversation
    summary: str
    campaign_fields: dict[str, Any]
    committed: bool
    next_follow_up_at: datetime | None
