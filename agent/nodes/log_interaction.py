"""Log interaction: one outgoing interaction per delivered step (idempotent by provider message id)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from pymongo.errors import DuplicateKeyError

from agent.context import OutreachContext
from agent.messages import logged_body
from agent.state import OutreachState
from models.base import new_id
from models.enums import Direction
from models.interaction import Interaction


async def log_interaction(state: OutreachState, runtime: Runtime[OutreachContext]) -> dict[str, Any]:
    """Record what the patient received on which channel."""
    ctx = runtime.context
    campaign, channel, message = state["campaign"], state["channel"], state["message"]
    assert channel is not None
    outcome = state["send"]
    interaction = Interaction(
        id=new_id(),
        campaign_id=campaign.id,
        patient_id=campaign.patient_id,
        direction=Direction.OUTGOING,
        channel=channel,
        timestamp=ctx.clock.now(),
        body=logged_body(channel, message),
        summary=(
            f"Follow-up on the patient's reply by {channel.value}"
            if "nudge" in state
            else f"Outreach attempt {state['attempt']} by {channel.value}"
        ),
        provider_message_id=outcome.provider_message_id,
        message_id_header=state.get("message_id_header"),
    )
    try:
        await ctx.repos.interactions.insert(interaction)
    except DuplicateKeyError:
        return {"interaction_id": None, "logged": None}  # an earlier run already logged this delivery
    return {"interaction_id": interaction.id, "logged": interaction}
