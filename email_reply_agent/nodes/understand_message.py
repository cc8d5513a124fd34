"""Understand message: opt-out words first, then ONE typed model call (or the deterministic classifier)."""

from __future__ import annotations

import logging
import re
from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent.context import ReplyContext
from email_reply_agent.schemas import INTENT_ACTIONS
from email_reply_agent.state import ReplyState
from models.enums import Intent
from services.llm.classifier import strip_quoted
from services.llm.port import LLMError

log = logging.getLogger("medcampaign.replies")

UNAUTHENTICATED = "unauthenticated_sender"

_EMAIL_OPT_OUT = re.compile(
    r"\bunsubscribe\b|\bopt\s*(me\s+)?out\b"
    r"|\bstop\s+(e-?mailing|emailing|contacting|writing\s+to|sending)\b"
    r"|\b(do\s*n[o']?t|never)\s+(e-?mail|email|contact|write\s+to)\s+me\b"
    r"|\bremove\s+me\s+from\b|\btake\s+me\s+off\b",
    re.IGNORECASE,
)


def wants_email_opt_out(text: str) -> bool:
    """A clear request to stop emails (checked before any model)."""
    return bool(_EMAIL_OPT_OUT.search(strip_quoted(text)))


async def understand_message(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Intent, confidence, summary and the KB article that answers a question, mapped to an allowed action."""
    ctx = runtime.context
    inbound = state["inbound"]
    text = inbound.text
    if not inbound.sender_verified:
        # Anyone can write a patient's address into From: no reply, no opt-out or decline, and no model reads it.
        log.info("sender not authenticated; handed to staff", extra={"event_id": inbound.event_id})
        return {
            "intent": Intent.OTHER,
            "confidence": 0.0,
            "summary": "Sender not verified (email authentication failed); staff to check before acting",
            "action": "handoff_no_reply",
            "handoff_reason": UNAUTHENTICATED,
            "kb_article_id": None,
        }
    if wants_email_opt_out(text):
        return {
            "intent": Intent.SERVICE_DENIAL,
            "confidence": 1.0,
            "summary": "Patient asked to stop emails",
            "action": "opt_out",
            "kb_article_id": None,
        }
    model = ctx.llm if ctx.llm is not None else ctx.templates
    try:
        result = await model.understand_reply(email_text=text, kb=state.get("kb", []))
    except LLMError as exc:
        log.warning("reply not understood; handing off", extra={"error_type": type(exc).__name__})
        return {
            "intent": Intent.OTHER,
            "confidence": 0.0,
            "summary": "Automatic reading failed",
            "action": "handoff_no_reply",
            "handoff_reason": "automatic reading failed",
            "kb_article_id": None,
        }
    intent = result.intent_enum
    update: dict[str, Any] = {
        "intent": intent,
        "confidence": result.confidence,
        "summary": result.summary,
        "kb_article_id": result.kb_article_id,
    }
    if result.confidence < ctx.settings.REPLY_MIN_CONFIDENCE:
        return {**update, "action": "handoff_no_reply", "handoff_reason": "unsure what the patient wants"}
    return {**update, "action": INTENT_ACTIONS[intent]}
