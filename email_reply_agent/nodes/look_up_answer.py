"""Look up answer: the knowledge-base article the reading pointed to, if it exists."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState


async def look_up_answer(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Keep the article id only when it is one of the clinic's articles."""
    article_id = state.get("kb_article_id")
    known = {candidate.id for candidate in state.get("kb", [])}
    return {"kb_article_id": article_id if article_id in known else None}
