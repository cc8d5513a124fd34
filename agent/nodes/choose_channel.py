"""Choose channel: the preferred one when the patient can be reached there with consent, else the next."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.context import OutreachContext
from agent.state import OutreachState
from domain.campaigns import choose_channel as pick


async def choose_channel(state: OutreachState, runtime: Runtime[OutreachContext]) -> dict[str, Any]:
    """Email, SMS or call, or none with the reason."""
    choice = pick(state["campaign"], state["patient"])
    return {"channel": choice.channel, "channel_problem": choice.reason, "all_opted_out": choice.all_opted_out}
