"""The outreach graph as the domain's OutreachRunner: one attempt in, its outcome out."""

from __future__ import annotations

from typing import cast

from agent.context import OutreachContext
from agent.graph import OutreachGraph
from agent.state import OutreachState
from domain.outreach import Nudge, OutreachAttempt
from models.campaign import Campaign
from models.interaction import Interaction
from models.patient import Patient


class OutreachGraphRunner:
    """Runs the compiled outreach graph on one context (its ports, clock and lease owner)."""

    def __init__(self, graph: OutreachGraph, context: OutreachContext):
        self.graph = graph
        self.context = context

    async def run(
        self, campaign: Campaign, patient: Patient, history: list[Interaction], attempt: int, *, nudge: Nudge | None
    ) -> OutreachAttempt:
        """One pass through the graph, read back as the domain's OutreachAttempt."""
        state: OutreachState = {"campaign": campaign, "patient": patient, "history": history, "attempt": attempt}
        if nudge is not None:
            state["nudge"] = nudge
        final = cast(OutreachState, await self.graph.ainvoke(state, context=self.context))  # langgraph returns a dict
        send = final.get("send")
        return OutreachAttempt(
            campaign_fields=final.get("campaign_fields", {}),
            channel=final.get("channel"),
            send_status=send.status if send else None,
            interaction_id=final.get("interaction_id"),
            next_follow_up_at=final.get("next_follow_up_at"),
            channel_problem=final.get("channel_problem", ""),
        )
