"""Short clarification for a confused or unrelated reply."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent import prompts
from email_reply_agent.compose import compose
from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState


async def short_clarification(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Say who we are and why we wrote."""
    return compose(runtime.context, state, "clarification", prompts.CLARIFICATION)
