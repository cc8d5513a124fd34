"""Reply formatting shared by the reply-writing nodes: the action's text inside the common layout."""

from __future__ import annotations

from typing import Any

from domain.reply_text import booking_link, letter, reply_subject
from email_reply_agent.context import ReplyContext
from email_reply_agent.schemas import Action
from email_reply_agent.state import ReplyState


def compose(ctx: ReplyContext, state: ReplyState, action: Action, body: str, **fields: Any) -> dict[str, Any]:
    """A full reply for an action: greeting, body, clinic sign-off."""
    settings = ctx.settings
    campaign = state.get("campaign")
    values = {
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "booking_link": booking_link(settings, campaign.id if campaign else None, now=ctx.clock.now()),
        **fields,
    }
    text = letter(settings, state.get("patient"), body.format(**values))
    return {"action": action, "reply_subject": reply_subject(state["inbound"].subject), "reply_text": text}
