"""The reply graph behind the domain's ReplyAgent port: domain types in, the graph's final state mapped back out."""

from __future__ import annotations

from domain.replies import InboundEmail, Match, ReplyOutcome
from email_reply_agent.context import ReplyContext
from email_reply_agent.graph import ReplyGraph
from email_reply_agent.state import ReplyState


class GraphReplyAgent:
    """Runs the compiled reply graph with one worker's context."""

    def __init__(self, graph: ReplyGraph, context: ReplyContext):
        self.graph = graph
        self.context = context

    async def run(self, inbound: InboundEmail, match: Match) -> ReplyOutcome:
        """One run of the graph for a matched message."""
        state: ReplyState = {"inbound": inbound, "patient": match.patient, "campaign": match.campaign}
        final = await self.graph.ainvoke(state, context=self.context)
        return ReplyOutcome(
            intent=final.get("intent"),
            action=final["action"],
            reply_sent=bool(final.get("reply_sent")),
            campaign_status=final.get("campaign_status"),
        )
