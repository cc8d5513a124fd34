"""Summarize: refresh the campaign's engagement summary (LLM when configured, deterministic otherwise)."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent.context import OutreachContext
from agent.state import OutreachState
from services.llm.port import LLMError

log = logging.getLogger("medcampaign.outreach")
TURN_CHARS = 300


async def summarize(state: OutreachState, runtime: Runtime[OutreachContext]) -> dict[str, Any]:
    """A short summary of the conversation so far."""
    ctx = runtime.context
    campaign = state["campaign"]
    logged = state.get("logged")
    history = [*state.get("history", []), *([logged] if logged else [])]
    turns = [(i.direction.value, i.channel.value, i.body[:TURN_CHARS]) for i in history]
    if ctx.llm is not None:
        try:
            result = await ctx.llm.summarize(campaign_type=campaign.campaign_type, turns=turns)
            return {"summary": result.summary}
        except LLMError as exc:
            log.warning("llm summary failed; using deterministic", extra={"error_type": type(exc).__name__})
    result = await ctx.templates.summarize(campaign_type=campaign.campaign_type, turns=turns)
    return {"summary": result.summary}
