"""The email opt-out pages: GET asks (mail scanners follow links), POST opts out (also RFC 8058 one-click)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.deps import ConsentServiceDep
from core.errors import NotFound
from web.forms import token_shape_ok
from web.rendering import page

router = APIRouter(include_in_schema=False)
# The links in emails sent so far point at the API path; both serve the same pages.
PATHS = ("/unsubscribe/{token}", "/api/v1/unsubscribe/{token}")


def unsubscribe_token(token: str) -> str:
    """The path's token when it has a token's shape (else the invalid-link page)."""
    if not token_shape_ok(token):
        raise NotFound("This unsubscribe link is invalid or has expired", error="invalid_unsubscribe_link")
    return token


UnsubscribeToken = Annotated[str, Depends(unsubscribe_token)]


async def unsubscribe_page(request: Request, token: UnsubscribeToken, consent: ConsentServiceDep) -> HTMLResponse:
    """Asks whether to stop emails; changes nothing."""
    await consent.check_unsubscribe(token)
    return page(request, "unsubscribe.html")


async def unsubscribe(request: Request, token: UnsubscribeToken, consent: ConsentServiceDep) -> HTMLResponse:
    """Opts the patient out of email (idempotent, so a repeated POST is harmless)."""
    await consent.unsubscribe_email(token)
    return page(request, "unsubscribed.html")


for _path in PATHS:
    router.add_api_route(_path, unsubscribe_page, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(_path, unsubscribe, methods=["POST"], response_class=HTMLResponse)
