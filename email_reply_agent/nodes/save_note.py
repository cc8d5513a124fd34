"""Save note: the incoming email as an interaction (once per provider message)."""

from __future__ import annotations

import contextlib
from typing import Any

from langgraph.runtime import Runtime
from pymongo.errors import DuplicateKeyError

from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState
from models.enums import Channel, Direction
from models.interaction import Interaction

BODY_LIMIT = 10_000


async def save_note(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Record what the patient wrote, with intent and summary."""
    ctx = runtime.context
    inbound, campaign, patient = state["inbound"], state.get("campaign"), state.get("patient")
    note = Interaction(
        id=inbound.event_id,  # one note per incoming message, however often its run is retried
        campaign_id=campaign.id if campaign else None,
        patient_id=patient.id if patient else None,
        direction=Direction.INCOMING,
        channel=Channel.EMAIL,
        timestamp=ctx.clock.now(),
        body=f"{inbound.subject}\n\n{inbound.text}"[:BODY_LIMIT],
        summary=state.get("summary", ""),
        intent=state.get("intent"),
        provider_message_id=inbound.provider_message_id,
        thread_id=inbound.thread_id,
        message_id_header=inbound.message_id_header,
        kind="patient_reply",
    )
    with contextlib.suppress(DuplicateKeyError):  # a retried run: the note is already there
        await ctx.repos.interactions.insert(note)
    return {}
