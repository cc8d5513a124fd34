"""Gmail watch and the Pub/Sub push endpoint (the product guide's un-versioned paths)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import ContainerDep, CurrentStaff, InboxServiceDep, SettingsDep
from core.errors import Forbidden
from core.tasks import background
from schemas.common import error_responses
from schemas.gmail import WatchRead
from schemas.webhooks import PushEnvelope, request_body
from services.gmail.push import OidcVerifier, decode_push, verify_token

router = APIRouter(tags=["gmail"])
log = logging.getLogger("medcampaign.gmail")


@router.post(
    "/gmail/watch/start",
    response_model=WatchRead,
    responses=error_responses(
        401, 409, 502, 503, notes={409: "Gmail is not configured (`gmail_not_configured`)", 502: "Gmail failed"}
    ),
)
async def watch_start(user: CurrentStaff, inbox: InboxServiceDep) -> WatchRead:
    """Start or refresh the Gmail watch."""
    history_id, expiration = await inbox.start_watch()
    return WatchRead(history_id=history_id, expiration=expiration)


@router.post(
    "/pubsub/push",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Recorded (or a duplicate, or a malformed envelope: acknowledged and dropped)"},
        **error_responses(403, 413, 422, 503, notes={403: "Wrong push token or identity token"}),
    },
    openapi_extra=request_body(PushEnvelope, "application/json"),
)
async def pubsub_push(
    request: Request,
    inbox: InboxServiceDep,
    settings: SettingsDep,
    container: ContainerDep,
    token: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Verify, record the delivery under its messageId, answer 204 at once; the sync runs afterwards."""
    if not verify_token(token, settings.PUBSUB_VERIFICATION_TOKEN):
        raise Forbidden("Invalid push token", error="invalid_push_token")
    verifier: OidcVerifier | None = container.oidc_verifier
    if verifier is not None and not await verifier.verify(request.headers.get("Authorization")):
        raise Forbidden("Invalid push identity token", error="invalid_push_identity")
    notice = decode_push(await request.body())
    if notice is None:
        log.warning("malformed push envelope acknowledged and dropped")
        return Response(status_code=204)
    event_id = await inbox.accept_push(notice)
    if event_id is not None:
        await background(inbox.run_push(event_id), container.background)
    return Response(status_code=204)
