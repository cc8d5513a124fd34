"""Send: at most once per (campaign, attempt, channel), with retries for passing outages."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from email.utils import make_msgid
from typing import Any

from langgraph.runtime import Runtime

from agent.context import OutreachContext
from agent.prompts import EMAIL_FOOTER, SMS_OPT_OUT
from agent.state import OutreachState, SendOutcome
from core.config import Settings
from core.retry import Retry
from core.security import sign_token
from domain.consent import UNSUBSCRIBE_PURPOSE
from models.enums import Channel, OutboundStatus
from models.patient import Patient
from services.email.port import EmailError, OutgoingEmail
from services.llm.schemas import OutreachMessage
from services.sms.port import OptedOutError, SmsError

log = logging.getLogger("medcampaign.outreach")

UNSUBSCRIBE_TTL = timedelta(days=365)
_URL = re.compile(r"https?://\S+|www\.\S+")


def unsubscribe_url(settings: Settings, patient_id: str, *, now: Any) -> str:
    """A signed one-click unsubscribe link for the patient."""
    token = sign_token(
        purpose=UNSUBSCRIBE_PURPOSE, subject=patient_id, expires=now + UNSUBSCRIBE_TTL, key=settings.key("unsubscribe")
    )
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/api/v1/unsubscribe/{token}"


def outreach_email(settings: Settings, patient: Patient, message: OutreachMessage, *, now: Any) -> OutgoingEmail:
    """The email: body, clinic footer with booking link, phone, address and unsubscribe link, and RFC 8058 headers."""
    link = unsubscribe_url(settings, patient.id, now=now)
    footer = EMAIL_FOOTER.format(
        clinic_name=settings.CLINIC_NAME,
        clinic_address=settings.CLINIC_ADDRESS,
        clinic_phone=settings.CLINIC_PHONE,
        booking_link=settings.booking_url,
        unsubscribe_link=link,
    )
    domain = settings.SMTP_FROM_EMAIL.rpartition("@")[2] or "localhost"
    return OutgoingEmail(
        to=patient.email or "",
        subject=message.subject,
        text=f"{message.body.rstrip()}\n{footer}",
        headers={
            "Message-ID": make_msgid(domain=domain),
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def sms_text(message: OutreachMessage) -> str:
    """The short text, always ending with the opt-out line."""
    text = message.short_text.strip()
    return text if text.endswith(SMS_OPT_OUT) else f"{text} {SMS_OPT_OUT}"


def call_script(message: OutreachMessage) -> str:
    """What the call says: the short text without links (the clinic number is added by the adapter)."""
    return " ".join(_URL.sub("", message.short_text).split())


async def _deliver(ctx: OutreachContext, state: OutreachState, channel: Channel) -> tuple[str, str | None]:
    """One provider call; returns (provider message id, email Message-ID header)."""
    patient, message = state["patient"], state["message"]
    if channel == Channel.EMAIL:
        email = outreach_email(ctx.settings, patient, message, now=ctx.clock.now())
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


async def _already_claimed(ctx: OutreachContext, row: Any) -> SendOutcome:
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
