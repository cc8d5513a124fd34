"""The LLM port in domain terms: write outreach, summarise a conversation, understand a reply, draft an answer."""

from __future__ import annotations

from typing import Literal, Protocol

from models.enums import CampaignType
from services.llm.schemas import (
    ConversationSummary,
    KbCandidate,
    OutreachMessage,
    OutreachRequest,
    ReplyUnderstanding,
    SuggestedReply,
)

LLMErrorReason = Literal["timeout", "transport", "invalid_output", "refused"]


class LLMError(Exception):
    """The LLM timed out, could not be reached, refused, or answered with invalid output: hand off, never guess."""

    def __init__(self, message: str, *, reason: LLMErrorReason = "invalid_output") -> None:
        super().__init__(message)
        self.reason = reason


class LLMPort(Protocol):
    """Language tasks of outreach and the reply agent; every answer is typed and validated."""

    async def write_outreach(self, req: OutreachRequest) -> OutreachMessage:
        """Write one outreach message for `req` (raises LLMError)."""
        ...

    async def summarize(self, *, campaign_type: CampaignType, turns: list[tuple[str, str, str]]) -> ConversationSummary:
        """Summarise a conversation given as (direction, channel, short text) turns, oldest first."""
        ...

    async def understand_reply(self, *, email_text: str, kb: list[KbCandidate]) -> ReplyUnderstanding:
        """Classify a patient's email reply; `kb_article_id` is one of `kb`'s ids or None."""
        ...

    async def draft_reply(self, *, email_text: str, kb: list[KbCandidate]) -> SuggestedReply:
        """Suggest the body of a staff answer to a patient's email, from `kb`'s approved answers only."""
        ...

    async def aclose(self) -> None:
        """Release network resources (a no-op offline)."""
        ...
