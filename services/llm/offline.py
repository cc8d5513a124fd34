"""OfflineLLM: the deterministic, network-free LLMPort a fresh install (no OPENAI_API_KEY) runs on."""

from __future__ import annotations

import re
from collections import Counter

from models.enums import CampaignType, Channel, Direction
from services.llm.classifier import (
    BOOKING,
    CONFUSED,
    DENIAL,
    KB_THRESHOLD,
    QUESTION,
    classify,
    retrieve,
    strip_quoted,
)
from services.llm.port import LLMError, LLMPort
from services.llm.schemas import (
    REPLY_SUMMARY_MAX,
    SUMMARY_MAX,
    ConversationSummary,
    IntentName,
    KbCandidate,
    OutreachMessage,
    OutreachRequest,
    ReplyUnderstanding,
    SuggestedReply,
)
from services.llm.templates import render
from services.llm.validation import validate_outreach, validate_suggestion, validate_understanding

QUOTE_MAX = 120
DRAFT_OPENING = "Thank you for your message, and sorry to keep you waiting for an answer."
DRAFT_KB = DRAFT_OPENING + "\n\n{answer}"

_CHANNEL_NOUNS = {
    Channel.EMAIL.value: ("email", "emails"),
    Channel.SMS.value: ("SMS", "SMS"),
    Channel.CALL.value: ("call", "calls"),
}
_INTENT_SUMMARIES: dict[IntentName, str] = {
    BOOKING: "Patient wants to book an appointment",
    DENIAL: "Patient declined further contact or treatment",
    CONFUSED: "Patient seems confused or the message is unrelated",
    QUESTION: "Patient asked a question",
}
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.DOTALL)


def truncate(text: str, limit: int) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut.rstrip(" ,;:.") + "…"


def first_sentence(text: str) -> str:
    """The first sentence of `text` (its quoted part ignored), on one line."""
    own = " ".join(strip_quoted(text).split())
    match = _FIRST_SENTENCE.match(own)
    return match.group(1) if match else own


def _count_phrase(count: int, channel: str) -> str:
    singular, plural = _CHANNEL_NOUNS.get(channel, (channel, channel + "s"))
    return f"{count} {singular if count == 1 else plural}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class OfflineLLM(LLMPort):
    """Templates, a rule-based summary and a negation-aware keyword classifier: deterministic, no network."""

    def __init__(self, *, kb_threshold: float = KB_THRESHOLD) -> None:
        self.kb_threshold = kb_threshold

    async def write_outreach(self, req: OutreachRequest) -> OutreachMessage:
        """Fill in the template for the request's campaign type, attempt and channel."""
        subject, body, short_text = render(
            req.campaign_type,
            req.attempt,
            channel=req.channel,
            first_name=req.first_name,
            clinic=req.clinic_name,
            phone=req.clinic_phone,
            link=req.booking_link,
            nudge=req.purpose == "engaged_nudge",
        )
        return validate_outreach(OutreachMessage(subject=subject, body=body, short_text=short_text), req)

    async def summarize(self, *, campaign_type: CampaignType, turns: list[tuple[str, str, str]]) -> ConversationSummary:
        """Outgoing touches per channel, whether the patient replied, and the start of their last message."""
        label = f"{CampaignType(campaign_type).value.capitalize()} campaign"
        outgoing = Counter(str(channel) for direction, channel, _ in turns if direction == Direction.OUTGOING)
        incoming = [text for direction, _, text in turns if direction == Direction.INCOMING]
        if not outgoing and not incoming:
            return ConversationSummary(summary=f"{label}: no contact yet.")
        order = [channel.value for channel in Channel] + sorted(set(outgoing) - {c.value for c in Channel})
        parts = [_count_phrase(outgoing[channel], channel) for channel in order if outgoing[channel]]
        sentences = [f"{label}: {_join(parts)} sent." if parts else f"{label}: nothing sent yet."]
        if incoming:
            times = "once" if len(incoming) == 1 else f"{len(incoming)} times"
            quote = truncate(first_sentence(incoming[-1]), QUOTE_MAX)
            sentences.append(
                f'The patient replied {times}; last message: "{quote}"' if quote else f"The patient replied {times}."
            )
        else:
            sentences.append("No reply from the patient yet.")
        return ConversationSummary(summary=truncate(" ".join(sentences), SUMMARY_MAX))

    async def understand_reply(self, *, email_text: str, kb: list[KbCandidate]) -> ReplyUnderstanding:
        """Classify with keyword patterns; for a question, pick the best-overlapping KB article, if any."""
        verdict = classify(email_text)
        kb_article_id = None
        if verdict.intent == QUESTION:
            kb_article_id = retrieve(verdict.evidence, kb, threshold=self.kb_threshold)
            if kb_article_id is None:
                kb_article_id = retrieve(strip_quoted(email_text), kb, threshold=self.kb_threshold)
        if verdict.intent in _INTENT_SUMMARIES:
            summary = _INTENT_SUMMARIES[verdict.intent]
            if verdict.intent == QUESTION and verdict.evidence:
                summary += f": {verdict.evidence}"
        elif verdict.evidence:
            summary = f"No clear intent: {verdict.evidence}"
        else:
            summary = "Empty reply"
        understanding = ReplyUnderstanding(
            intent=verdict.intent,
            confidence=verdict.confidence,
            summary=truncate(summary, REPLY_SUMMARY_MAX),
            kb_article_id=kb_article_id,
        )
        return validate_understanding(understanding, [article.id for article in kb])

    async def draft_reply(self, *, email_text: str, kb: list[KbCandidate]) -> SuggestedReply:
        """For a question an approved article answers: that answer; else an opening for staff to complete."""
        understanding = await self.understand_reply(email_text=email_text, kb=kb)
        article = next((a for a in kb if a.id == understanding.kb_article_id), None)
        body = DRAFT_KB.format(answer=article.answer) if article else DRAFT_OPENING
        try:
            return validate_suggestion(SuggestedReply(body=body))
        except (ValueError, LLMError):  # an article too long or with a link of its own: staff write the answer
            return SuggestedReply(body=DRAFT_OPENING)

    async def aclose(self) -> None:
        """Nothing to release."""
