"""Prepare booking reply: the booking link and the next few open slots."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent import prompts
from email_reply_agent.compose import compose
from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState


async def booking_reply(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Offer times (from live availability) and the link."""
    ctx = runtime.context
    slots = await ctx.open_slots()
    slots_line = prompts.SLOTS_LINE.format(slots="\n".join(f"  - {s}" for s in slots)) if slots else ""
    return compose(ctx, state, "booking_reply", prompts.BOOKING_REPLY, slots_line=slots_line)
