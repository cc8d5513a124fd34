"""Reply formatting shared by the reply-writing nodes: greeting, sign-off and the `Re:` subject."""

from __future__ import annotations

from typing import Any

from domain.campaign_links import campaign_booking_url
from email_reply_agent import prompts
from email_reply_agent.context import ReplyContext
from email_reply_agent.schemas import Action
from email_reply_agent.state import ReplyState


def reply_subject(subject: str) -> str:
    """`Re: <subject>` without stacking prefixes."""
    stripped = subject.strip()
    return stripped if stripped.lower().startswith("re:") else f"Re: {stripped or 'your message'}"


def compose(ctx: ReplyContext, state: ReplyState, action: Action, body: str, **fields: Any) -> dict[str, Any]:
    """A full reply for an action: greeting, body, clinic sign-off."""
    settings = ctx.settings
    patient, campaign = state.get("patient"), state.get("campaign")
    first = patient.name.split()[0] if patient and patient.name.split() else "there"
    values = {
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        # The campaign's signed link attributes a booking made from this reply; without a campaign, the plain page.
        "booking_link": campaign_booking_url(settings, campaign.id, now=ctx.clock.now())
        if campaign
        else settings.booking_url,
        **fields,
    }
    text = (
        prompts.GREETING.format(first_name=first) + "\n\n" + body.format(**values) + prompts.SIGN_OFF.format(**values)
    )
    return {"action": action, "reply_subject": reply_subject(state["inbound"].subject), "reply_text": text}
