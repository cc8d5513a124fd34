"""State of one reply run: one incoming email."""

from __future__ import annotations

from typing import TypedDict

from domain.replies import InboundEmail
from email_reply_agent.schemas import Action
from models.campaign import Campaign
from models.enums import CampaignStatus, Intent
from models.interaction import Interaction
from models.patient import Patient
from services.llm.schemas import KbCandidate


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
