"""The console's outbox (development): every email and SMS the app would have sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ClientIP, OutboxServiceDep
from core.config import Settings
from core.errors import NotFound
from models.enums import Channel
from models.outbox import OutboxMessage
from web.console import ConsoleUser, console_page, is_id, pager
from web.routes.console_campaigns import CHANNEL_LABELS, actor_of, clinic_time

router = APIRouter(include_in_schema=False)

LIST = "/console/outbox"
PAGE_SIZE = 25
EXCERPT = 80
# Headers worth seeing when checking threading and unsubscribe handling, in this order.
SHOWN_HEADERS = ("In-Reply-To", "References", "Reply-To", "Auto-Submitted", "List-Unsubscribe")
_URL = re.compile(r"https?://[^\s<>\"']+")
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Segment:
    """A piece of a message's text: plain, or a link (`href` is where it opens here)."""

    text: str
    href: str | None = None


def local_href(url: str, settings: Settings) -> str:
    """Where a link opens from the console: links to this app (PUBLIC_BASE_URL) open on the host serving the page."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    rest = url.removeprefix(base)
    if rest == url or rest[:1] not in ("", "/", "?", "#"):
        return url
    return rest if rest.startswith("/") else "/" + rest


def linked(text: str, settings: Settings) -> list[Segment]:
    """The text with its http(s) URLs as links; trailing punctuation stays text."""
    segments: list[Segment] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group().rstrip(".,;:!?)]")
        if match.start() > position:
            segments.append(Segment(text[position : match.start()]))
        segments.append(Segment(url, local_href(url, settings)))
        position = match.start() + len(url)
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments


def excerpt(message: OutboxMessage) -> str:
    """The subject of an email, the start of an SMS or call script."""
    if message.channel == Channel.EMAIL:
        return message.subject or "(no subject)"
    flat = " ".join(message.text.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1].rstrip() + "…"


def message_path(message_id: str) -> str:
    """A kept message's page."""
    return f"{LIST}/{message_id}"


@router.get(LIST, response_class=HTMLResponse)
async def outbox(
    request: Request,
    user: ConsoleUser,
    service: OutboxServiceDep,
    ip: ClientIP,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Kept messages, newest first, 25 a page (the 404 page when the outbox is off)."""
    items, total = await service.page(actor_of(user, ip), page=page, page_size=PAGE_SIZE)
    zone = service.settings.zone
    rows = [
        {
            "id": m.id,
            "href": message_path(m.id),
            "to": m.to,
            "summary": excerpt(m),
            "channel": CHANNEL_LABELS[m.channel],
            "at": clinic_time(m.created_at, zone),
            "kind": m.kind,
        }
        for m in items
    ]
    context = {
        "rows": rows,
        "pager": pager(request, page=page, page_size=PAGE_SIZE, total=total),
        "zone": service.settings.TZ,
        "email_kept": service.settings.email_outbox,
        "sms_kept": service.settings.sms_outbox,
    }
    return console_page(request, "console/outbox.html", user, "outbox", context)


def message_id_path(message_id: str) -> str:
    """The path's message id when it has an id's shape (else the 404 page, before anything is read)."""
    if not is_id(message_id):
        raise NotFound("There is no such message in the outbox.", error="message_not_found")
    return message_id


@router.get(LIST + "/{message_id}", response_class=HTMLResponse)
async def message(
    request: Request, message_id: str, user: ConsoleUser, service: OutboxServiceDep, ip: ClientIP
) -> HTMLResponse:
    """One kept message as text with working links, its headers and its files (HTML is never rendered)."""
    found = await service.message(actor_of(user, ip), message_id_path(message_id))
    lowered = {name.lower(): value for name, value in found.headers.items()}
    context: dict[str, Any] = {
        "message": {
            "id": found.id,
            "is_email": found.channel == Channel.EMAIL,
            "channel": CHANNEL_LABELS[found.channel],
            "kind": found.kind,
            "to": found.to,
            "sender": found.sender,
            "subject": found.subject,
            "at": clinic_time(found.created_at, service.settings.zone),
            "message_id": found.message_id,
            "headers": [(name, lowered[name.lower()]) for name in SHOWN_HEADERS if name.lower() in lowered],
            "has_html": found.html is not None,
            "segments": linked(found.text, service.settings),
            "attachments": [
                {
                    "href": f"{message_path(found.id)}/attachments/{index}",
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": len(a.data),
                }
                for index, a in enumerate(found.attachments)
            ],
        },
        "zone": service.settings.TZ,
    }
    return console_page(request, "console/outbox_message.html", user, "outbox", context)


@router.get(LIST + "/{message_id}/attachments/{index}")
async def attachment(
    message_id: str,
    index: Annotated[int, Path(ge=0, le=100)],
    user: ConsoleUser,
    service: OutboxServiceDep,
    ip: ClientIP,
) -> Response:
    """One file of a kept email, as a download (never shown inline)."""
    found = await service.attachment(actor_of(user, ip), message_id_path(message_id), index)
    filename = _SAFE_FILENAME.sub("_", found.filename).strip("._") or "attachment"
    return Response(
        found.data,
        media_type=found.content_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
