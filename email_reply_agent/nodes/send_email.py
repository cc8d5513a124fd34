"""Send email: in the patient's thread, at most once per incoming message, within the auto-reply caps."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState
from models.enums import OutboundStatus
from services.email.port import EmailError
from services.gmail.port import GmailError

log = logging.getLogger("medcampaign.replies")


class ReplyNotSent(Exception):
    """The reply could not be sent now; the incoming message stays pending and is retried later."""


async def _over_caps(ctx: ReplyContext, state: ReplyState) -> bool:
    """One auto-reply per thread per hour, REPLY_DAILY_CAP_PER_SENDER per patient per day."""
    now = ctx.clock.now()
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(days=1)
    thread_id = state["inbound"].thread_id
    patient = state.get("patient")
    if patient is None:
        return await ctx.repos.interactions.count_auto_replies_in_thread(thread_id, since=hour_ago) >= 1
    # A thread's replies went to its patient, so the patient's last day answers both caps in one query.
    sent = await ctx.repos.interactions.auto_reply_times(patient_id=patient.id, since=day_ago)
    in_thread = sum(1 for thread, at in sent if thread == thread_id and at >= hour_ago)
    return in_thread >= 1 or len(sent) >= ctx.settings.REPLY_DAILY_CAP_PER_SENDER


async def send_email(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Claim the one reply to this message, send it (retrying passing failures) and record the outcome."""
    ctx = runtime.context
    inbound = state["inbound"]
    patient = state.get("patient")
    # Always the address on file: whoever wrote into the thread, the answer goes to the patient.
    recipient = patient.email if patient is not None else None
    if not recipient:
        return {"action": "handoff_no_reply", "reply_sent": False, "handoff_reason": "no stored email address"}
    if await _over_caps(ctx, state):
        return {"action": "handoff_no_reply", "reply_sent": False, "handoff_reason": "auto-reply limit reached"}
    events = ctx.repos.inbound_events
    if not await events.claim_reply(inbound.event_id, owner=ctx.owner, now=ctx.clock.now(), ttl=ctx.reply_lease):
        return {"reply_sent": False}  # already replied (or the outcome of an earlier try is unknown)
    references = " ".join(r for r in (inbound.references, inbound.message_id_header) if r) or None
    delays = ctx.settings.outreach_retry_delays
    for try_number in range(len(delays) + 1):
        try:
            message_id = await ctx.sender.send_reply(
                to=recipient,
                subject=state["reply_subject"],
                text=state["reply_text"],
                thread_id=inbound.thread_id,
                in_reply_to=inbound.message_id_header,
                references=references,
            )
        except (GmailError, EmailError) as exc:
            if exc.retryable and try_number < len(delays):
                await asyncio.sleep(delays[try_number])
                continue
            await events.finish_reply(inbound.event_id, owner=ctx.owner, status=OutboundStatus.FAILED)
            log.warning("reply send failed", extra={"retryable": exc.retryable, "tries": try_number + 1})
            raise ReplyNotSent(type(exc).__name__) from exc
        await events.finish_reply(inbound.event_id, owner=ctx.owner, status=OutboundStatus.SENT, message_id=message_id)
        return {"reply_sent": True, "reply_message_id": message_id}
    raise AssertionError("unreachable")
