"""Offer human help when no approved answer exists; staff take over."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent import prompts
from email_reply_agent.compose import compose
from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState


async def offer_human_help(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Promise a human answer."""
    reply = compose(runtime.context, state, "offer_human_help", prompts.OFFER_HUMAN_HELP)
    return {**reply, "handoff_reason": "question without an approved answer"}
