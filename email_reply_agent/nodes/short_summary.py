"""Short summary for anything else: acknowledge and hand to staff."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent import prompts
from email_reply_agent.compose import compose
from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState


async def short_summary(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Acknowledge; the summary goes to staff with the handoff."""
    reply = compose(runtime.context, state, "summary_handoff", prompts.SUMMARY_HANDOFF)
    return {**reply, "handoff_reason": f"needs staff: {state.get('summary', '')}"[:300]}
