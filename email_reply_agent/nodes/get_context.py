"""Get context: recent conversation and candidate knowledge-base articles."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState
from services.llm.schemas import KbCandidate

HISTORY_LIMIT = 10


async def get_context(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """The campaign's last messages and the clinic's approved answers."""
    ctx = runtime.context
    campaign = state.get("campaign")
    history = await ctx.repos.interactions.recent_for_campaign(campaign.id, limit=HISTORY_LIMIT) if campaign else []
    articles = await ctx.knowledge_base()
    return {"history": history, "kb": [KbCandidate(id=a.id, title=a.title, answer=a.answer) for a in articles]}
