"""Provider webhooks (Twilio inbound SMS) and the patient's unsubscribe page."""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from api.deps import ConsentServiceDep, SettingsDep
from core.errors import Forbidden, Unprocessable
from domain.consent import SmsReply
from schemas.common import error_responses
from schemas.webhooks import TwilioSmsForm, request_body

router = APIRouter(prefix="/api/v1", tags=["webhooks"])
Token = Annotated[str, Path(min_length=20, max_length=400, pattern=r"^[A-Za-z0-9_\-.]+$")]
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TWILIO_SMS_PATH = "/webhooks/twilio/sms"
# Request-body limits other than MAX_BODY_BYTES, by exact path (core/middleware.py BodyLimitMiddleware).
# An inbound SMS form is ~1-2 KB; 16 KB bounds what is parsed before the signature is checked.
BODY_LIMITS = {router.prefix + TWILIO_SMS_PATH: 16 * 1024}


TWIML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Empty TwiML", "content": {"text/xml": {"schema": {"type": "string"}}}}
}
HTML_PAGE: dict[int | str, dict[str, Any]] = {
    200: {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
}
LINK_ERRORS = error_responses(
    404, 422, 503, notes={404: "The unsubscribe link is invalid or has expired"}, html_route=True
)


@router.post(
    TWILIO_SMS_PATH,
    response_class=Response,
    responses={
        **TWIML_RESPONSE,
        **error_responses(400, 403, 413, 422, 503, notes={403: "Missing or wrong X-Twilio-Signature"}),
    },
    openapi_extra={
        **request_body(TwilioSmsForm, "application/x-www-form-urlencoded"),
        "parameters": [
            {
                "name": "X-Twilio-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "maxLength": 200},
            }
        ],
    },
)
async def twilio_sms(request: Request, consent: ConsentServiceDep, settings: SettingsDep) -> Response:
    """Inbound SMS: verified by X-Twilio-Signature; STOP-family replies opt the sender out of SMS."""
    if not settings.TWILIO_AUTH_TOKEN:
        raise Forbidden("Invalid Twilio signature", error="invalid_signature")
    # The raw body, read once and bounded by BODY_LIMITS; only then parsed (the signature covers the params).
    body = await request.body()
    params = ImmutableMultiDict[str, str](parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.PUBLIC_BASE_URL.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, params, signature):
        raise Forbidden("Invalid Twilio signature", error="invalid_signature")
    if not params.get("MessageSid") or not params.get("From"):
        raise Unprocessable("MessageSid and From are required", error="validation_error")
    await consent.sms_received(SmsReply(params["MessageSid"], params["From"], params.get("Body", "")))
    return Response(EMPTY_TWIML, media_type="text/xml")


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title></head>"
        "<body style='font-family:sans-serif;max-width:36em;margin:3em auto'>"
        f"{body}</body></html>"
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, responses={**HTML_PAGE, **LINK_ERRORS})
async def unsubscribe_page(token: Token, consent: ConsentServiceDep, settings: SettingsDep) -> HTMLResponse:
    """A confirm page: GET never changes anything (mail scanners follow links)."""
    await consent.check_unsubscribe(token)
    clinic = html.escape(settings.CLINIC_NAME)
    return _page(
        "Unsubscribe",
        (
            f"<h1>Stop emails from {clinic}?</h1>"
            f"<form method='post'><button type='submit'>Unsubscribe</button></form>"
            f"<p>You can still call us at {html.escape(settings.CLINIC_PHONE)}.</p>"
        ),
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, responses={**HTML_PAGE, **LINK_ERRORS})
async def unsubscribe(token: Token, consent: ConsentServiceDep, settings: SettingsDep) -> HTMLResponse:
    """Opt out of email (also RFC 8058 one-click from the List-Unsubscribe-Post header)."""
    await consent.unsubscribe_email(token)
    return _page(
        "Unsubscribed",
        f"<h1>You are unsubscribed</h1><p>{html.escape(settings.CLINIC_NAME)} will not "
        "email you about appointments again.</p>",
    )
