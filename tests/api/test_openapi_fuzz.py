"""Schemathesis against the live app (a real uvicorn over the test database) as an admin, with a fixed seed.

Every operation of /openapi.json gets 15 schema-valid and 15 schema-breaking examples; a finding of any of the four
checks fails the test with a curl line to reproduce it. Nothing is excluded: /pubsub/push gets its token, and the
Twilio webhook a valid X-Twilio-Signature for each generated form (a wrong one is a documented 403). Gmail is not
configured, so /gmail/watch/start answers its documented 409.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
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
from services.loopback import LiveServer
from tests.api.test_booking import bookable_day, booking
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
EXAMPLES = 15  # per operation and generation mode
PUSH_TOKEN = "push-token-0123456789"
PUBLIC_URL = "https://clinic.test"
TWILIO_PATH = "/api/v1/webhooks/twilio/sms"


@dataclass
class Target:
    """The live server, the admin's headers, and ids of seeded documents for schema-valid path parameters."""

    base_url: str
    headers: dict[str, str]
    bookable: date = field(default_factory=bookable_day)
    path_ids: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)


def _twilio_signature(case: schemathesis.Case) -> dict[str, str]:
    """A valid X-Twilio-Signature for the generated form, so the fuzz reaches the handler behind the check."""
    form = case.body if isinstance(case.body, dict) else {}
    url = PUBLIC_URL + TWILIO_PATH + (f"?{urlencode(case.query)}" if case.query else "")
    params = {str(k): str(v) for k, v in form.items()}
    return {"X-Twilio-Signature": RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(url, params)}


def _check(target: Target, session: requests.Session, case: schemathesis.Case, label: str) -> None:
    sent = {**target.headers, **(_twilio_signature(case) if case.operation.path == TWILIO_PATH else {})}
    response = case.call(base_url=target.base_url, session=session, headers=sent)
    try:
        case.validate_response(
            response,
            checks=CHECKS,
            headers=sent,
            transport_kwargs={"base_url": target.base_url, "session": session, "headers": sent},
        )
    except (Failure, FailureGroup) as exc:
        for failure in exc.exceptions if isinstance(exc, FailureGroup) else (exc,):
            target.findings.append(
                f"{label} {failure.title}: {failure.message}\n"
                f"  answered {response.status_code} {response.text[:300]}\n"
                f"  {case.as_curl_command(base_url=target.base_url)}"
            )


def fuzz_operation(target: Target, session: requests.Session, operation: Any, mode: GenerationMode) -> None:
    """Send EXAMPLES generated cases of one operation (fixed seed) and record every finding."""
    positive = mode is GenerationMode.POSITIVE
    query: dict[str, Any] | None = {"token": PUSH_TOKEN} if operation.path == "/pubsub/push" else None
    if positive and operation.path == "/api/v1/availability":
        query = {"month": target.bookable.month, "year": target.bookable.year}  # inside the bookable window
    fixed = {name: value for name, value in target.path_ids.items() if "{" + name + "}" in operation.path}
    strategy = operation.as_strategy(
        generation_mode=mode, query=query, path_parameters=fixed if positive and fixed else None
    )

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        _check(target, session, case, f"{operation.label} [{mode.value}]")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # An operation without parameters or body has no invalid input to send.
        assert mode is GenerationMode.NEGATIVE, operation.label


def seed(target: Target, session: requests.Session) -> None:
    """A campaign and a booked appointment, so reads return items and actions find their target."""
    created = session.post(
        f"{target.base_url}/api/v1/admin/campaigns",
        json={"campaign_type": "RECALL", "patient": {"name": "Fuzz Patient", "email": "fuzz.patient@example.com"}},
        headers=target.headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    booked = session.post(
        f"{target.base_url}/api/v1/appointments/book",
        json=booking(target.bookable, "10:00", email="fuzz.booker@example.com"),
        timeout=30,
    )
    assert booked.status_code == 201, booked.text
    target.path_ids.update(
        campaign_id=created.json()["id"],
        appointment_id=booked.json()["id"],
        token=booked.json()["manage_url"].rsplit("/", 1)[1],
    )


def fuzz(target: Target) -> list[str]:
    """Seed, then run every operation of the live schema in both modes; returns the findings."""
    with requests.Session() as session:
        seed(target, session)
        schema = schemathesis.openapi.from_url(f"{target.base_url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz_operation(target, session, operation, mode)
    return target.findings


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
    )
    server = live_server(create_app(settings))
    email, password = await make_user("fuzz-admin@clinic.test", role=Role.ADMIN)
    login = await asyncio.to_thread(
        requests.post, f"{server.url}/api/v1/auth/login", data={"username": email, "password": password}, timeout=30
    )
    assert login.status_code == 200, login.text
    target = Target(server.url, {"Authorization": f"Bearer {login.json()['access_token']}"})
    findings = await asyncio.to_thread(fuzz, target)
    assert findings == [], "\n".join(findings)
