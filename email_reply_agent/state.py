"""State of one reply run: one incoming email."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from email_reply_agent.schemas import Action
from models.campaign import Campaign
from models.enums import CampaignStatus, Intent
from models.interaction import Interaction
from models.patient import Patient
from services.llm.schemas import KbCandidate


@dataclass(frozen=True)
class InboundEmail:
    """A patient's email as the graph sees it (already past loop prevention)."""

    event_id: str  # the inbound_events row that makes the reply happen at most once
    provider_message_id: str | None
    thread_id: str
    from_address: str
    subject: str
    text: str
    message_id_header: str | None = None
    references: str | None = None
    # False: matched by its From address alone without an authenticated From domain; recorded, staff decide.
    sender_verified: bool = True


class ReplyState(TypedDict, total=False):
    """Partial updates from each node accumulate here."""

    inbound: InboundEmail
    patient: Patient | None
    campaign: Campaign | None
    history: list[Interaction]
    kb: list[KbCandidate]
    intent: Intent
    confidence: float
    summary: str
    kb_article_id: str | None
    action: Action
    handoff_reason: str | None
    reply_subject: str
    reply_text: str
    reply_sent: bool
    reply_message_id: str | None
    campaign_status: CampaignStatus | None
