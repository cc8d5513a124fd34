"""Update campaign and next step: engaged, declined or handed to staff; automatic follow-ups stop."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from domain.campaigns import becoming_engaged
from email_reply_agent.context import ReplyContext
from email_reply_agent.schemas import HANDS_OFF
from email_reply_agent.state import ReplyState
from models.enums import CampaignStatus, Channel

CLOSED = (CampaignStatus.BOOKING_COMPLETED, CampaignStatus.DECLINED, CampaignStatus.FAILED)


async def update_campaign(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """The campaign's status after this reply."""
    ctx = runtime.context
    now = ctx.clock.now()
    campaign, patient, action = state.get("campaign"), state.get("patient"), state["action"]
    if action == "opt_out" and patient is not None:
        await ctx.repos.patients.opt_out(patient.id, Channel.EMAIL, source="email_reply", now=now)
    if campaign is None or campaign.status in CLOSED:
        return {"campaign_status": campaign.status if campaign else None}
    fields: dict[str, Any] = {
        "follow_up_details.next_follow_up_at": None,
        "engagement_summary": f"Patient replied ({state['intent'].value}): {state.get('summary', '')}"[:500],
    }
    if action in ("thank_you", "opt_out"):
        status = CampaignStatus.DECLINED
    elif action in HANDS_OFF:
        status = CampaignStatus.HANDOFF
        fields["handoff"] = {
            "reason": state.get("handoff_reason") or "needs staff",
            "at": now,
            "resolved_at": None,
            "note": None,
        }
    elif campaign.status == CampaignStatus.ENGAGED:
        status = CampaignStatus.ENGAGED
        del fields["follow_up_details.next_follow_up_at"]  # still engaged since then: its nudge and hand-off stand
    else:
        status = CampaignStatus.ENGAGED
        fields.update(becoming_engaged(now, nudge_days=ctx.settings.ENGAGED_NUDGE_DAYS))
    fields["status"] = status.value
    await ctx.repos.campaigns.set_fields(campaign.id, fields, now=now)
    return {"campaign_status": status}
