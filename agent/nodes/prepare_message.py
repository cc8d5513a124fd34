"""Prepare message: the LLM writes it when configured and valid, else the built-in templates do."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent.context import OutreachContext
from agent.state import OutreachState
from domain.campaign_links import campaign_booking_url
from services.llm.port import LLMError
from services.llm.schemas import FIRST_NAME_MAX, OutreachRequest

log = logging.getLogger("medcampaign.outreach")


def first_name(full_name: str) -> str:
    """The first word of a name, for a friendly greeting, cut to what the message request allows."""
    parts = full_name.strip().split()
    return parts[0][:FIRST_NAME_MAX] if parts else "there"


async def prepare_message(state: OutreachState, runtime: Runtime[OutreachContext]) -> dict[str, Any]:
    """Write this attempt's message from the minimum patient data (first name only, nothing medical)."""
    ctx = runtime.context
    campaign, patient = state["campaign"], state["patient"]
    # One link for the whole message (body, SMS and email footer): the campaign's signed booking link.
    link = campaign_booking_url(ctx.settings, campaign.id, now=ctx.clock.now())
    request = OutreachRequest(
        first_name=first_name(patient.name),
        campaign_type=campaign.campaign_type,
        attempt=state["attempt"],
        channel=campaign.channel,
        clinic_name=ctx.settings.CLINIC_NAME,
        clinic_phone=ctx.settings.CLINIC_PHONE,
        booking_link=link,
        purpose="engaged_nudge" if "nudge" in state else "outreach",
    )
    if ctx.llm is not None:
        try:
            return {"message": await ctx.llm.write_outreach(request), "drafted_by": "llm", "booking_link": link}
        except LLMError as exc:
            log.warning(
                "llm message rejected; using template",
                extra={"campaign_id": campaign.id, "error_type": type(exc).__name__},
            )
    return {"message": await ctx.templates.write_outreach(request), "drafted_by": "template", "booking_link": link}
