"""Send: at most once per (campaign, attempt, channel), with retries for passing outages."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent.context import OutreachContext
from agent.messages import call_script, outreach_email, sms_text
from agent.state import OutreachState, SendOutcome
from core.retry import Retry
from domain.campaign_links import campaign_booking_url
from models.enums import Channel, OutboundStatus
from models.messaging import OutboundMessage
from services.email.port import EmailError
from services.sms.port import OptedOutError, SmsError

log = logging.getLogger("medcampaign.outreach")


async def _deliver(ctx: OutreachContext, state: OutreachState, channel: Channel) -> tuple[str, str | None]:
    """One provider call; returns (provider message id, email Message-ID header)."""
    patient, message = state["patient"], state["message"]
    if channel == Channel.EMAIL:
        link = state.get("booking_link") or campaign_booking_url(
            ctx.settings, state["campaign"].id, now=ctx.clock.now()
        )
        email = outreach_email(ctx.settings, patient, message, now=ctx.clock.now(), booking_link=link)
        message_id = await ctx.email.send(email)
        return message_id, message_id
    if ctx.sms is None:
        raise SmsError("SMS/voice provider is not configured", retryable=False)
    if channel == Channel.SMS:
        return await ctx.sms.send_sms(to=patient.phone or "", body=sms_text(message)), None
    return await ctx.sms.place_call(to=patient.phone or "", message=call_script(message)), None


async def send(state: OutreachState, runtime: Runtime[OutreachContext]) -> dict[str, Any]:
    """Claim the step, call the provider (retrying passing failures), and record what happened."""
    ctx = runtime.context
    campaign, channel, attempt = state["campaign"], state["channel"], state["attempt"]
    assert channel is not None
    outbound = ctx.repos.outbound_messages
    now = ctx.clock.now()
    mine, row = await outbound.claim(
        campaign_id=campaign.id, attempt=attempt, channel=channel, owner=ctx.owner, now=now, ttl=ctx.lease_ttl
    )
    if not mine:
        return {"send": await _already_claimed(ctx, row)}
    retry = Retry(delays=ctx.settings.outreach_retry_delays, retry_on=(EmailError, SmsError))
    try:
        provider_id, header = await retry.run(lambda: _deliver(ctx, state, channel))
    except OptedOutError:  # never retryable
        await outbound.finish(
            row.id, owner=ctx.owner, status=OutboundStatus.FAILED, now=ctx.clock.now(), error="recipient opted out"
        )
        await ctx.repos.patients.opt_out(state["patient"].id, channel, source="provider", now=ctx.clock.now())
        return {"send": SendOutcome("opted_out", error="recipient opted out")}
    except (EmailError, SmsError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
        await outbound.finish(row.id, owner=ctx.owner, status=OutboundStatus.FAILED, now=ctx.clock.now(), error=error)
        log.warning(
            "send failed",
            extra={
                "campaign_id": campaign.id,
                "channel": channel.value,
                "retryable": exc.retryable,
                "tries": retry.tries,
            },
        )
        return {"send": SendOutcome("retry_later" if exc.retryable else "undeliverable", error=error)}
    await outbound.finish(
        row.id, owner=ctx.owner, status=OutboundStatus.SENT, now=ctx.clock.now(), provider_message_id=provider_id
    )
    log.info("sent", extra={"campaign_id": campaign.id, "channel": channel.value, "attempt": attempt})
    return {"send": SendOutcome("sent", provider_message_id=provider_id), "message_id_header": header}


async def _already_claimed(ctx: OutreachContext, row: OutboundMessage) -> SendOutcome:
    """Someone claimed this step before: never send it again."""
    if row.status == OutboundStatus.SENT:
        return SendOutcome("already_sent", provider_message_id=row.provider_message_id)
    if row.status == OutboundStatus.UNKNOWN:
        return SendOutcome("unknown")
    if row.status == OutboundStatus.CLAIMED and await ctx.repos.outbound_messages.mark_unknown_if_stale(
        row.id, now=ctx.clock.now()
    ):
        log.warning("send outcome unknown after a crash; left for staff", extra={"outbound_id": row.id})
        return SendOutcome("unknown")
    return SendOutcome("in_progress")
