"""Save outbound note: the reply as an outgoing interaction in the same thread."""

from __future__ import annotations

import contextlib
from typing import Any

from langgraph.runtime import Runtime
from pymongo.errors import DuplicateKeyError

from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState
from models.base import new_id
from models.enums import Channel, Direction
from models.interaction import Interaction


async def save_outbound_note(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Record the reply (only when one went out)."""
    if not state.get("reply_sent"):
        return {}
    ctx = runtime.context
    campaign, patient = state.get("campaign"), state.get("patient")
    note = Interaction(
        id=new_id(),
        campaign_id=campaign.id if campaign else None,
        patient_id=patient.id if patient else None,
        direction=Direction.OUTGOING,
        channel=Channel.EMAIL,
        timestamp=ctx.clock.now(),
        body=f"{state['reply_subject']}\n\n{state['reply_text']}",
        summary=f"Automatic reply: {state['action']}",
        provider_message_id=state.get("reply_message_id"),
        thread_id=state["inbound"].thread_id,
        kind="auto_reply",
    )
    with contextlib.suppress(DuplicateKeyError):  # a retried run: the note is already there
        await ctx.repos.interactions.insert(note)
    return {}
