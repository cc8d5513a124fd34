"""Polite thank-you after a no."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent import prompts
from email_reply_agent.compose import compose
from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState


async def polite_thank_you(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Thank the patient; the campaign closes as declined."""
    return compose(runtime.context, state, "thank_you", prompts.THANK_YOU)
