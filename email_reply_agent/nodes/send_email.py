"""Send email: in the patient's thread, at most once per incoming message, within the auto-reply caps."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from langgraph.runtime import Runtime

from core.retry import Retry
from domain.replies import ReplyNotSent
from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState
from models.enums import OutboundStatus
from services.email.port import EmailError
from services.gmail.port import GmailError

log = logging.getLogger("medcampaign.replies")


THREAD_WINDOW = timedelta(hours=1)
SENDER_WINDOW = timedelta(days=1)


async def _take_reply_slots(ctx: ReplyContext, state: ReplyState, patient_id: str) -> bool:
    """One auto-reply per thread per hour, REPLY_DAILY_CAP_PER_SENDER per patient per day, each taken atomically.

    Two messages handled at once both find the caps unused if they only read them: taking a slot is the check.
    """
    slots = ctx.repos.reply_slots
    event_id, now = state["inbound"].event_id, ctx.clock.now()
    for n in range(ctx.settings.REPLY_DAILY_CAP_PER_SENDER):
        sender_key = f"sender:{patient_id}:{n}"
        if await slots.claim(sender_key, event_id=event_id, now=now, ttl=SENDER_WINDOW):
            break
    else:
        return False
    if await slots.claim(f"thread:{state['inbound'].thread_id}", event_id=event_id, now=now, ttl=THREAD_WINDOW):
        return True
    await slots.release(sender_key, event_id=event_id)
    return False


async def send_email(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Claim the one reply to this message, send it (retrying passing failures) and record the outcome."""
    ctx = runtime.context
    inbound = state["inbound"]
    patient = state.get("patient")
    # Always the address on file: whoever wrote into the thread, the answer goes to the patient.
    if patient is None or not patient.email:
        return {"action": "handoff_no_reply", "reply_sent": False, "handoff_reason": "no stored email address"}
    recipient = patient.email
    if not await _take_reply_slots(ctx, state, patient.id):
        return {"action": "handoff_no_reply", "reply_sent": False, "handoff_reason": "auto-reply limit reached"}
    events = ctx.repos.inbound_events
    if not await events.claim_reply(inbound.event_id, owner=ctx.owner, now=ctx.clock.now(), ttl=ctx.reply_lease):
        return {"reply_sent": False}  # already replied (or the outcome of an earlier try is unknown)
    references = " ".join(r for r in (inbound.references, inbound.message_id_header) if r) or None
    retry = Retry(delays=ctx.settings.outreach_retry_delays, retry_on=(GmailError, EmailError))
    try:
        message_id = await retry.run(
            lambda: ctx.sender.send_reply(
                to=recipient,
                subject=state["reply_subject"],
                text=state["reply_text"],
                thread_id=inbound.thread_id,
                in_reply_to=inbound.message_id_header,
                references=references,
            )
        )
    except (GmailError, EmailError) as exc:
        await events.finish_reply(inbound.event_id, owner=ctx.owner, status=OutboundStatus.FAILED)
        log.warning("reply send failed", extra={"retryable": exc.retryable, "tries": retry.tries})
        raise ReplyNotSent(type(exc).__name__) from exc
    await events.finish_reply(inbound.event_id, owner=ctx.owner, status=OutboundStatus.SENT, message_id=message_id)
    return {"reply_sent": True, "reply_message_id": message_id}
