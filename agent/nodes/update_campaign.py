"""Update campaign: turn the send outcome into the campaign's new fields (written once, in the next node)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from langgraph.runtime import Runtime

from agent.context import OutreachContext
from agent.state import OutreachState
from domain.outreach import COUNTED
from models.enums import CampaignStatus


async def update_campaign(state: OutreachState, runtime: Runtime[OutreachContext]) -> dict[str, Any]:
    """Status, attempt count, summary, failure reason."""
    ctx = runtime.context
    now = ctx.clock.now()
    channel = state.get("channel")
    if "nudge" in state:
        return {"campaign_fields": _nudge_fields(state, ctx)}
    if channel is None:
        closed = CampaignStatus.DECLINED if state.get("all_opted_out") else CampaignStatus.FAILED
        return {
            "campaign_fields": {
                "status": closed.value,
                "failure_reason": state.get("channel_problem"),
                "follow_up_details.next_follow_up_at": None,
            }
        }
    outcome = state["send"]
    if outcome.status in COUNTED:
        fields: dict[str, Any] = {
            "follow_up_details.attempts_made": state["attempt"],
            "follow_up_details.last_attempt_at": now,
            "channel": channel.value,
        }
        if state.get("summary"):
            fields["engagement_summary"] = state["summary"]
        return {"campaign_fields": fields}
    if outcome.status == "undeliverable":
        return {
            "campaign_fields": {
                "status": CampaignStatus.FAILED.value,
                "failure_reason": f"undeliverable by {channel.value}",
                "follow_up_details.next_follow_up_at": None,
            }
        }
    if outcome.status == "opted_out":
        # Try again at once: channel choice will now skip the opted-out channel.
        return {"campaign_fields": {"follow_up_details.next_follow_up_at": now}}
    if outcome.status == "retry_later":
        retry_at = now + timedelta(minutes=ctx.settings.OUTREACH_RETRY_LATER_MINUTES)
        return {"campaign_fields": {"follow_up_details.next_follow_up_at": retry_at, "failure_reason": outcome.error}}
    # in_progress: another worker holds this step; look again once its claim would have expired.
    return {"campaign_fields": {"follow_up_details.next_follow_up_at": now + ctx.lease_ttl}}


def _nudge_fields(state: OutreachState, ctx: OutreachContext) -> dict[str, Any]:
    """After an engaged campaign's nudge: it stays ENGAGED and is looked at again for the hand-off.

    A nudge that could not go out for a passing reason gives its claim back, so it is tried again later.
    """
    now = ctx.clock.now()
    channel, outcome = state.get("channel"), state.get("send")
    then = state["nudge"].then
    if channel is None or outcome is None:  # no consent on its channel: nothing went out, staff get it at the hand-off
        return {"follow_up_details.nudged_at": None, "follow_up_details.next_follow_up_at": then}
    if outcome.status in COUNTED:
        fields: dict[str, Any] = {
            "follow_up_details.attempts_made": state["attempt"],
            "follow_up_details.last_attempt_at": now,
            "follow_up_details.next_follow_up_at": then,
        }
        if state.get("summary"):
            fields["engagement_summary"] = state["summary"]
        return fields
    if outcome.status in ("retry_later", "opted_out"):
        retry_at = now + timedelta(minutes=ctx.settings.OUTREACH_RETRY_LATER_MINUTES)
        return {"follow_up_details.nudged_at": None, "follow_up_details.next_follow_up_at": min(retry_at, then)}
    if outcome.status == "in_progress":
        return {"follow_up_details.next_follow_up_at": min(now + ctx.lease_ttl, then)}
    return {"follow_up_details.next_follow_up_at": then}  # undeliverable: staff get it at the hand-off
