"""Schemathesis against the live app as staff: every documented operation, positive and negative inputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import hypothesis
import hypothesis.errors
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from twilio.request_validator import RequestValidator

from core.config import Settings
from main import create_app
from models.enums import Role
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.support import LiveServer

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
EXAMPLES_PER_MODE = 15
PUSH_TOKEN = "push-token-0123456789"  # noqa: S105 - a test value
PUBLIC_URL = "https://clinic.test"
TWILIO_PATH = "/api/v1/webhooks/twilio/sms"


def _sign_twilio(case: schemathesis.Case) -> dict[str, str]:
    """A valid X-Twilio-Signature for a generated form body, so the fuzz reaches the handler behind it."""
    form = case.body if isinstance(case.body, dict) else {}
    params = {str(k): str(v) for k, v in form.items()}
    url = PUBLIC_URL + TWILIO_PATH
    if case.query:
        url += "?" + urlencode(case.query)
    return {"X-Twilio-Signature": RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(url, params)}


def fuzz(base_url: str, headers: dict[str, str]) -> list[str]:
    """Run every operation with a fixed seed; return one line per finding."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    findings: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                query = {"token": PUSH_TOKEN} if operation.path == "/pubsub/push" else None

                @hypothesis.given(case=operation.as_strategy(generation_mode=mode, query=query))
                @hypothesis.settings(
                    max_examples=EXAMPLES_PER_MODE,
                    derandomize=True,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def run(case: schemathesis.Case) -> None:
                    sent = {**headers, **(_sign_twilio(case) if operation.path == TWILIO_PATH else {})}
                    response = case.call(base_url=base_url, session=session, headers=sent)
                    try:
                        case.validate_response(
                            response,
                            checks=CHECKS,
                            headers=sent,
                            transport_kwargs={"base_url": base_url, "session": session, "headers": sent},
                        )
                    except (Failure, FailureGroup) as exc:
                        failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
                        for failure in failures:
                            findings.append(
                                f"{operation.label} [{mode.value}] {failure.title}: {failure.message}\n"
                                f"  answered {response.status_code} {response.text[:300]}\n"
                                f"  {case.as_curl_command(base_url=base_url)}"
                            )

                try:
                    run()
                except hypothesis.errors.Unsatisfiable:
                    # An operation without parameters or body has no invalid input to send.
                    assert mode is GenerationMode.NEGATIVE, operation.label
    return findings


async def test_schemathesis_finds_nothing(
    make_settings: Callable[..., Settings],
    live_server: Callable[..., LiveServer],
    make_user: Callable[..., Any],
    twilio: FakeTwilio,
    smtp: SmtpSink,
) -> None:
    settings = make_settings(
        PUBLIC_BASE_URL=PUBLIC_URL,
        PUBSUB_VERIFICATION_TOKEN=PUSH_TOKEN,
        TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        TWILIO_PHONE_NUMBER="+15550009999",
        TWILIO_API_BASE_URL=twilio.url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port,
        SMTP_STARTTLS=False,
        BOOKING_RATE_LIMIT_PER_IP=0,
        BOOKING_RATE_LIMIT_PER_EMAIL=0,
        GMAIL_MAINTENANCE_ENABLED=False,
    )
    server = live_server(create_app(settings))
    email, password = await make_user("fuzz-admin@clinic.test", role=Role.ADMIN)
    token = await asyncio.to_thread(
        lambda: requests.post(
            f"{server.url}/api/v1/auth/login", data={"username": email, "password": password}, timeout=30
        ).json()["access_token"]
    )
    findings = await asyncio.to_thread(fuzz, server.url, {"Authorization": f"Bearer {token}"})
    assert findings == [], "\n".join(findings)
