"""The console's handoff queue: staff answer the patient in the thread."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ClientIP, StaffReplyServiceDep
from core.config import Settings
from core.errors import Conflict, Unprocessable
from domain.audit import Actor
from domain.console_sessions import SignedIn
from domain.reply_text import first_name, split_note
from domain.staff_replies import TEXT_MAX, AnswerNotSent, HandoffThread, StaffReplyService
from models.enums import Direction
from models.interaction import Interaction
from web.console import CampaignId, ConsoleForm, ConsoleUser, console_page, pager
from web.forms import SEE_OTHER, FormText, bounded, sentence

router = APIRouter(include_in_schema=False)
QUEUE = "/console/handoffs"
PAGE_SIZE = 20
EXCERPT_MAX = 200
KEY_MAX = 100
SENDERS = {"auto_reply": "Automatic reply", "staff": "Staff", "outreach": "Outreach"}
NOTICES = {"answered": "Your answer was sent to the patient and the handoff is resolved."}


def _actor(user: SignedIn, ip: str | None) -> Actor:
    return Actor(user.user.email, ip)


def _when(settings: Settings, at: datetime | None) -> str:
    """A stored UTC time in the clinic's timezone."""
    return f"{at.astimezone(settings.zone):%Y-%m-%d %H:%M}" if at else "unknown"


def _excerpt(interaction: Interaction | None) -> str:
    """The start of what the patient wrote, on one line."""
    if interaction is None:
        return ""
    text = " ".join(split_note(interaction.body)[1].split())
    return text if len(text) <= EXCERPT_MAX else text[: EXCERPT_MAX - 1].rstrip() + "…"


def _turn(settings: Settings, interaction: Interaction) -> dict[str, str]:
    incoming = interaction.direction == Direction.INCOMING
    who = "Patient" if incoming else SENDERS.get(interaction.kind or "", "Clinic")
    return {
        "who": who,
        "direction": "incoming" if incoming else "outgoing",
        "at": _when(settings, interaction.timestamp),
        "channel": interaction.channel.value,
        "text": split_note(interaction.body)[1] if incoming else interaction.body,
    }


def _thread_view(settings: Settings, thread: HandoffThread) -> dict[str, Any]:
    campaign, patient = thread.campaign, thread.patient
    return {
        "campaign_id": campaign.id,
        "patient_name": patient.name if patient else "Unknown patient",
        "patient_email": patient.email if patient and patient.email else "no email address on file",
        "first_name": first_name(patient),
        "campaign_type": campaign.campaign_type.value.capitalize(),
        "reason": campaign.handoff.reason if campaign.handoff else "unspecified",
        "since": _when(settings, campaign.handoff.at if campaign.handoff else None),
        "acknowledged": thread.acknowledged,
        "last": _turn(settings, thread.last_incoming) if thread.last_incoming else None,
        "recent": [_turn(settings, i) for i in thread.recent if i is not thread.last_incoming],
        "key": thread.key,
    }


def _answer_page(
    request: Request,
    user: SignedIn,
    service: StaffReplyService,
    thread: HandoffThread,
    *,
    text: str,
    source: str = "",
    message: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    settings = service.settings
    context = {
        "handoff": _thread_view(settings, thread),
        "text": text,
        "source": source,
        "message": message,
        "text_max": TEXT_MAX,
        "zone": settings.TZ,
    }
    return console_page(request, "console/handoff.html", user, "handoffs", context, status_code=status_code)


def _closed_page(request: Request, user: SignedIn, campaign_id: str, exc: Conflict) -> HTMLResponse:
    """409: answered or resolved already; nothing was sent."""
    context = {"message": sentence(exc.detail), "campaign_id": campaign_id}
    return console_page(request, "console/handoff_closed.html", user, "handoffs", context, status_code=exc.status_code)


@router.get(QUEUE, response_class=HTMLResponse)
async def queue(
    request: Request,
    user: ConsoleUser,
    service: StaffReplyServiceDep,
    ip: ClientIP,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """Campaigns waiting for staff, longest waiting first."""
    rows, total = await service.queue(_actor(user, ip), page=page, page_size=PAGE_SIZE)
    settings = service.settings
    items = [
        {
            "campaign_id": row.item.summary.campaign.id,
            "patient_name": row.item.summary.patient_name or "Unknown patient",
            "campaign_type": row.item.summary.campaign.campaign_type.value.capitalize(),
            "reason": handoff.reason if (handoff := row.item.summary.campaign.handoff) else "unspecified",
            "since": _when(settings, handoff.at if handoff else None),
            "excerpt": _excerpt(row.item.last_incoming),
            "acknowledged": row.acknowledged,
        }
        for row in rows
    ]
    context = {
        "items": items,
        "total": total,
        "pager": pager(request, page=page, page_size=PAGE_SIZE, total=total),
        "notice": NOTICES.get(done or "", ""),
        "zone": settings.TZ,
    }
    return console_page(request, "console/handoffs.html", user, "handoffs", context)


@router.get(QUEUE + "/{campaign_id}", response_class=HTMLResponse)
async def answer(
    request: Request, campaign_id: CampaignId, user: ConsoleUser, service: StaffReplyServiceDep, ip: ClientIP
) -> HTMLResponse:
    """The patient's last message, the conversation's last turns and a suggested reply to edit and send."""
    try:
        draft = await service.draft(_actor(user, ip), campaign_id)
    except Conflict as exc:
        return _closed_page(request, user, campaign_id, exc)
    return _answer_page(request, user, service, draft.thread, text=draft.text, source=draft.source)


@router.post(QUEUE + "/{campaign_id}/reply", response_class=HTMLResponse)
async def reply(
    request: Request,
    campaign_id: CampaignId,
    user: ConsoleForm,
    service: StaffReplyServiceDep,
    ip: ClientIP,
    text: FormText = "",
    key: FormText = "",
) -> Response:
    """Send the reply once per handoff; 303 to the queue, or the form again with the text kept."""
    actor = _actor(user, ip)
    try:
        await service.send(actor, campaign_id, text=text, key=bounded(key, KEY_MAX))
    except (Unprocessable, AnswerNotSent) as exc:
        thread = await service.thread(actor, campaign_id)
        return _answer_page(
            request, user, service, thread, text=text, message=sentence(exc.detail), status_code=exc.status_code
        )
    except Conflict as exc:
        return _closed_page(request, user, campaign_id, exc)
    return RedirectResponse(f"{QUEUE}?done=answered", status_code=SEE_OTHER)
