"""The reply agent's fixed allow-list of actions: code maps intent to action, the LLM never chooses one."""

from __future__ import annotations

from typing import Literal

from models.enums import Intent

Action = Literal[
    "booking_reply",  # booking link and the next open slots
    "thank_you",  # polite close after a no; the campaign is declined
    "clarification",  # short note saying who we are and why we wrote
    "kb_answer",  # the approved answer of a knowledge-base article
    "offer_human_help",  # a question we cannot answer: staff will follow up
    "summary_handoff",  # anything else: acknowledged and handed to staff
    "opt_out",  # unsubscribe request: opted out, no reply
    "handoff_no_reply",  # unsure (low confidence, model failure, caps reached): staff decide, nothing sent
]

INTENT_ACTIONS: dict[Intent, Action] = {
    Intent.BOOKING_REQUEST: "booking_reply",
    Intent.SERVICE_DENIAL: "thank_you",
    Intent.IRRELEVANT_CONFUSED: "clarification",
    Intent.QUESTION: "kb_answer",
    Intent.OTHER: "summary_handoff",
}
SENDS_REPLY: frozenset[Action] = frozenset(
    {"booking_reply", "thank_you", "clarification", "kb_answer", "offer_human_help", "summary_handoff"}
)
HANDS_OFF: frozenset[Action] = frozenset({"offer_human_help", "summary_handoff", "handoff_no_reply"})
