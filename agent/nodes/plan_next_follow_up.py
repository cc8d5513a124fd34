"""Plan next follow-up, then commit the run's outcome in one write guarded by the lease."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent.context import OutreachContext
from agent.state import OutreachState
from domain.campaigns import next_follow_up_at
from domain.outreach import COUNTED

log = logging.getLogger("medcampaign.outreach")


async def plan_next_follow_up(state: OutreachState, runtime: Runtime[OutreachContext]) -> dict[str, Any]:
    """Schedule the next touch from the cadence (after the last attempt: the check that closes it as FAILED)."""
    ctx = runtime.context
    campaign = state["campaign"]
    fields = dict(state.get("campaign_fields", {}))
    now = ctx.clock.now()
    send = state.get("send")
    if "nudge" in state:
        pass  # update_campaign planned it: the nudge is followed by the hand-off check, not by the cadence
    elif send is not None and send.status in COUNTED and "status" not in fields:
        cadence = campaign.follow_up_details.cadence_days or ctx.settings.follow_up_cadence
        fields["follow_up_details.next_follow_up_at"] = next_follow_up_at(
            attempts_made=state["attempt"], cadence_days=cadence, sent_at=now
        )
        fields["failure_reason"] = None
    committed = await ctx.repos.campaigns.commit(campaign.id, owner=ctx.owner, now=now, fields=fields)
    if not committed:
        log.warning("finalisation refused: lease lost", extra={"campaign_id": campaign.id})
    return {"committed": committed, "next_follow_up_at": fields.get("follow_up_details.next_follow_up_at")}
