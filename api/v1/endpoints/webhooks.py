"""Provider webhooks (Twilio inbound SMS); the unsubscribe pages are in web/routes/unsubscribe.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from api.deps import ConsentServiceDep, SettingsDep
from core.errors import Forbidden, Unprocessable
from domain.consent import SmsReply
from schemas.common import error_responses
from schemas.webhooks import TwilioSmsForm, request_body

router = APIRouter(prefix="/api/v1", tags=["webhooks"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TWILIO_SMS_PATH = "/webhooks/twilio/sms"
# Request-body limits other than MAX_BODY_BYTES, by exact path (core/middleware.py BodyLimitMiddleware).
# An inbound SMS form is ~1-2 KB; 16 KB bounds what is parsed before the signature is checked.
BODY_LIMITS = {router.prefix + TWILIO_SMS_PATH: 16 * 1024}


TWIML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Empty TwiML", "content": {"text/xml": {"schema": {"type": "string"}}}}
}


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
