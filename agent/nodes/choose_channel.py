"""Choose channel: the preferred one when the patient can be reached there with consent, else the next."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.context import OutreachContext
from agent.state import OutreachState
from domain.campaigns import channel_allowed
from domain.campaigns import choose_channel as pick


async def choose_channel(state: OutreachState, runtime: Runtime[OutreachContext]) -> dict[str, Any]:
    """Email, SMS or call, or none with the reason; a nudge goes on the campaign's own channel or not at all."""
    campaign, patient = state["campaign"], state["patient"]
    if "nudge" in state:
        if channel_allowed(patient, campaign.channel):
            return {"channel": campaign.channel, "channel_problem": "", "all_opted_out": False}
        return {"channel": None, "channel_problem": f"no consent to nudge by {campaign.channel.value}"}
    choice = pick(campaign, patient)
    return {"channel": choice.channel, "channel_problem": choice.reason, "all_opted_out": choice.all_opted_out}
