"""A loopback fake of the parts of Twilio's REST API we use (Messages, Calls), recording every request."""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.loopback import LoopbackFake
from services.sms.port import is_e164

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"
HOLD_LIMIT_SECONDS = 5.0  # a held request is answered after this even without release() (a failing test ends)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    account_sid: str
    form: dict[str, str]
    auth_user: str | None
    auth_password: str | None
    headers: dict[str, str]


@dataclass(frozen=True)
class _Failure:
    status: int
    code: int | None
    message: str


def _error(status: int, code: int | None, message: str) -> Response:
    if code is None:
        return PlainTextResponse(message, status_code=status)
    return JSONResponse(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status_code=status,
    )


def _basic_auth(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None, None
    try:
        user, _, password = base64.b64decode(token).decode().partition(":")
    except ValueError:
        return None, None
    return user, password


class FakeTwilio(LoopbackFake):
    """Twilio's Messages and Calls endpoints served by uvicorn on a free loopback port."""

    def __init__(self, *, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._held_changed = threading.Condition(self._lock)
        self._held = 0
        self._gate = threading.Event()
        self._gate.set()
        self.app = self._build_app()
        self.serve(self.app)

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 400,
        code: int | None = 21610,
        message: str = "Attempt to send to unsubscribed recipient",
    ) -> None:
        """Answer the next `count` requests with `status` and Twilio error JSON (text if code is None)."""
        with self._lock:
            self._failures.extend([_Failure(status, code, message)] * count)

    def fail_next_with_server_error(self, count: int = 1) -> None:
        """Answer the next `count` requests with a bare 500."""
        self.fail_next(count, status=500, code=None, message="Internal Server Error")

    def hold(self) -> None:
        """Keep every request from now on unanswered until `release()` (or HOLD_LIMIT_SECONDS)."""
        self._gate.clear()

    def release(self) -> None:
        """Answer the held requests."""
        self._gate.set()

    def wait_held(self, count: int, timeout: float = 10.0) -> None:
        """Block until `count` requests are held at the same time (the timeout only bounds a failing test)."""
        with self._held_changed:
            if not self._held_changed.wait_for(lambda: self._held >= count, timeout):
                raise TimeoutError(f"{self._held} of {count} requests held at once")

    @property
    def messages(self) -> list[RecordedRequest]:
        """Recorded Messages.json requests."""
        return [r for r in self.requests if r.path.endswith("/Messages.json")]

    @property
    def calls(self) -> list[RecordedRequest]:
        """Recorded Calls.json requests."""
        return [r for r in self.requests if r.path.endswith("/Calls.json")]

    async def _record(self, request: Request, sid: str) -> tuple[RecordedRequest, Response | None]:
        body = (await request.body()).decode()
        user, password = _basic_auth(request)
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            account_sid=sid,
            form=dict(parse_qsl(body)),
            auth_user=user,
            auth_password=password,
            headers=dict(request.headers),
        )
        with self._lock:
            self.requests.append(recorded)
            failure = self._failures.pop(0) if self._failures else None
        if not self._gate.is_set():
            with self._held_changed:
                self._held += 1
                self._held_changed.notify_all()
            try:
                await asyncio.to_thread(self._gate.wait, HOLD_LIMIT_SECONDS)
            finally:
                with self._lock:
                    self._held -= 1
        if failure:
            return recorded, _error(failure.status, failure.code, failure.message)
        if user != self.account_sid or password != self.auth_token or sid != self.account_sid:
            return recorded, _error(401, 20003, "Authenticate")
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return recorded, _error(400, 20001, "Expected a form-encoded body")
        to = recorded.form.get("To", "")
        if not to:
            return recorded, _error(400, 21604, "A 'To' phone number is required.")
        if not is_e164(to):
            return recorded, _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not recorded.form.get("From"):
            return recorded, _error(400, 21603, "A 'From' phone number is required.")
        return recorded, None

    def _resource(self, prefix: str, sid: str, kind: str, form: dict[str, str]) -> dict[str, Any]:
        resource_sid = prefix + uuid.uuid4().hex
        now = formatdate(usegmt=True)
        return {
            "sid": resource_sid,
            "account_sid": sid,
            "api_version": API_VERSION,
            "to": form["To"],
            "from": form["From"],
            "status": "queued",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "price": None,
            "price_unit": "USD",
            "uri": f"/{API_VERSION}/Accounts/{sid}/{kind}/{resource_sid}.json",
        }

    def _build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None)

        @app.post(f"/{API_VERSION}/Accounts/{{sid}}/Messages.json")
        async def create_message(sid: str, request: Request) -> Response:
            recorded, error = await self._record(request, sid)
            if error:
                return error
            if not recorded.form.get("Body"):
                return _error(400, 21602, "Message body is required.")
            payload = self._resource("SM", sid, "Messages", recorded.form)
            payload.update(
                {
                    "body": recorded.form["Body"],
                    "num_segments": "1",
                    "num_media": "0",
                    "date_sent": None,
                    "error_code": None,
                    "error_message": None,
                    "messaging_service_sid": None,
                    "subresource_uris": {"media": payload["uri"].replace(".json", "/Media.json")},
                }
            )
            return JSONResponse(payload, status_code=201)

        @app.post(f"/{API_VERSION}/Accounts/{{sid}}/Calls.json")
        async def create_call(sid: str, request: Request) -> Response:
            recorded, error = await self._record(request, sid)
            if error:
                return error
            if not (recorded.form.get("Twiml") or recorded.form.get("Url")):
                return _error(400, 21205, "Url parameter is required.")
            payload = self._resource("CA", sid, "Calls", recorded.form)
            payload.update(
                {
                    "to_formatted": recorded.form["To"],
                    "from_formatted": recorded.form["From"],
                    "start_time": None,
                    "end_time": None,
                    "duration": None,
                    "parent_call_sid": None,
                    "phone_number_sid": None,
                    "answered_by": None,
                    "caller_name": None,
                }
            )
            return JSONResponse(payload, status_code=201)

        return app
