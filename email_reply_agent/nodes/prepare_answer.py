"""Prepare answer: the approved article text, never model-written prose."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from email_reply_agent import prompts
from email_reply_agent.compose import compose
from email_reply_agent.context import ReplyContext
from email_reply_agent.state import ReplyState


async def prepare_answer(state: ReplyState, runtime: Runtime[ReplyContext]) -> dict[str, Any]:
    """Answer from the knowledge base."""
    article = next(a for a in state.get("kb", []) if a.id == state.get("kb_article_id"))
    # Braces in an article must not be read as template fields.
    answer = article.answer.replace("{", "{{").replace("}", "}}")
    return compose(runtime.context, state, "kb_answer", prompts.KB_ANSWER.replace("{answer}", answer))
