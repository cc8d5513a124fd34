"""Loopback fakes of Google for the real client libraries: the Gmail REST API, and an OIDC issuer for Pub/Sub push.

FakeGmailServer speaks the paths googleapiclient uses when `api_endpoint` is overridden (rootUrl replaced,
method paths `gmail/v1/users/{userId}/...` kept): watch, history.list, messages.list/get/send, getProfile, and an OAuth
`POST /token` refresh endpoint (use `{url}/token` as the token file's token_uri).
FakeOidcIssuer serves `{kid: PEM certificate}` like https://www.googleapis.com/oauth2/v1/certs and mints RS256
tokens shaped like the ones Pub/Sub push sends. Used by tests and bench only; needs runtime packages alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any, Unpack
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from google.auth import crypt, jwt

from services.gmail.mailbox import DEFAULT_MAILBOX, Incoming, Mailbox, page_of
from services.gmail.mime import decode_base64url, encode_base64url
from services.gmail.port import HistoryGone
from services.loopback import LoopbackFake

API_PREFIX = "/gmail/v1/users/{user_id}"
FIRST_HISTORY_ID = 5000
DEFAULT_PAGE_SIZE = 100
MAX_LIST_RESULTS = 500
HOLD_LIMIT_SECONDS = 60  # a held request a test forgot to release still ends
_FIRST_MESSAGE_NUMBER = 0x1900_0000_0000_0000
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    route: str  # watch, history, list, get, send, profile, token
    query: dict[str, list[str]]
    body: dict[str, Any] | None
    headers: dict[str, str]


@dataclass(frozen=True)
class SentMessage:
    """One message sent through messages.send, parsed."""

    id: str
    thread_id: str
    message: EmailMessage
    raw: bytes


@dataclass
class _Failure:
    status: int
    route: str | None
    reason: str


@dataclass
class _Delay:
    seconds: float
    route: str | None


def google_error(status: int, message: str, reason: str = "backendError") -> JSONResponse:
    """An error body shaped like Google's JSON API errors."""
    return JSONResponse(
        {
            "error": {
                "code": status,
                "message": message,
                "status": _STATUS_NAMES.get(status, "UNKNOWN"),
                "errors": [{"message": message, "domain": "global", "reason": reason}],
            }
        },
        status_code=status,
    )


def _part_json(part: Message, part_id: str) -> dict[str, Any]:
    headers = [{"name": name, "value": str(value)} for name, value in part.items()]
    filename = part.get_filename() or ""
    if part.is_multipart():
        children = part.get_payload()
        assert isinstance(children, list)
        prefix = f"{part_id}." if part_id else ""
        return {
            "partId": part_id,
            "mimeType": part.get_content_type(),
            "filename": filename,
            "headers": headers,
            "body": {"size": 0},
            "parts": [_part_json(child, f"{prefix}{index}") for index, child in enumerate(children)],
        }
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": filename,
        "headers": headers,
        "body": {"size": len(data), "data": encode_base64url(data)},
    }


class FakeGmailServer(LoopbackFake):
    """A Gmail mailbox behind the REST paths the real client calls, on a free loopback port."""

    def __init__(
        self,
        *,
        email_address: str = DEFAULT_MAILBOX,
        page_size: int = DEFAULT_PAGE_SIZE,
        access_token: str | None = None,
    ) -> None:
        self.email_address = email_address
        self.page_size = page_size  # history records per history.list page
        self.list_page_size = MAX_LIST_RESULTS  # the most ids one messages.list page returns, whatever maxResults
        self.access_token = access_token  # when set, other bearer tokens get 401
        self.mailbox = Mailbox(
            email_address=email_address, first_history_id=FIRST_HISTORY_ID, first_message_number=_FIRST_MESSAGE_NUMBER
        )
        self.requests: list[RecordedRequest] = []
        self.sent: list[SentMessage] = []
        self.watches: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        self._delays: list[_Delay] = []
        self._lock = threading.Lock()
        self._held_routes: set[str] = set()
        self._gate = threading.Event()
        self._changed = threading.Condition(self._lock)
        self.held: dict[str, int] = {}  # requests waiting at a hold, per route
        self.app = self._build_app()
        self.serve(self.app)

    # --- lifecycle -------------------------------------------------------------------------------------------

    # --- scripting -------------------------------------------------------------------------------------------

    @property
    def history_id(self) -> int:
        """The mailbox's current history id."""
        with self._lock:
            return self.mailbox.history_id

    @history_id.setter
    def history_id(self, value: int) -> None:
        with self._lock:
            self.mailbox.history_id = value

    def add_raw(
        self,
        mime: EmailMessage | bytes,
        *,
        thread_id: str | None = None,
        labels: Iterable[str] = ("INBOX",),
        internal_date: dt.datetime | None = None,
    ) -> tuple[str, str]:
        """Deliver a ready RFC 2822 message; returns (message id, thread id)."""
        with self._lock:
            stored = self.mailbox.add(mime, thread_id=thread_id, labels=labels, internal_date=internal_date)
        return stored.id, stored.thread_id

    def add_incoming(self, from_: str, subject: str, text: str | None, **options: Unpack[Incoming]) -> tuple[str, str]:
        """Deliver an email (text, html or both; text=None for HTML-only); returns (message id, thread id).

        `auth_results`: the Authentication-Results headers, topmost first (None: Gmail's pass for the From domain).
        """
        with self._lock:
            stored = self.mailbox.deliver(from_, subject, text, **options)
        return stored.id, stored.thread_id

    def fail_next(
        self, count: int = 1, *, status: int = 500, route: str | None = None, reason: str = "backendError"
    ) -> None:
        """Answer the next `count` requests to `route` (watch, history, list, get, send, profile; None: any)."""
        with self._lock:
            self._failures.extend([_Failure(status, route, reason)] * count)

    def fail_next_send(self, count: int = 1, status: int = 500) -> None:
        """Answer the next `count` messages.send requests with `status`, sending nothing."""
        self.fail_next(count, status=status, route="send")

    def delay_next(self, count: int = 1, *, seconds: float, route: str | None = None) -> None:
        """Hold the next `count` requests to `route` for `seconds` before answering."""
        with self._lock:
            self._delays.extend([_Delay(seconds, route)] * count)

    def hold(self, *routes: str) -> None:
        """Make requests to these routes wait (after being recorded) until `release()`."""
        with self._lock:
            self._held_routes.update(routes)
            self._gate.clear()

    def release(self) -> None:
        """Let every held request (and later ones) through."""
        with self._lock:
            self._held_routes.clear()
            self._gate.set()

    def wait_held(self, route: str, count: int = 1, timeout: float = 30.0) -> None:
        """Block until `count` requests to `route` are waiting at the hold (call from a thread)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.held.get(route, 0) >= count, timeout=timeout):
                raise TimeoutError(f"{count} held {route} request(s) never arrived")

    def set_history_floor(self, history_id: int) -> None:
        """history.list answers 404 for any startHistoryId below `history_id`."""
        with self._lock:
            self.mailbox.history_floor = history_id

    def requests_to(self, route: str) -> list[RecordedRequest]:
        """Recorded requests to one route."""
        with self._lock:
            return [r for r in self.requests if r.route == route]

    def labels_of(self, message_id: str) -> tuple[str, ...]:
        """The labels of a stored message."""
        with self._lock:
            return self.mailbox.messages[message_id].label_ids

    # --- serving ---------------------------------------------------------------------------------------------

    def _take(self, items: list[Any], route: str) -> Any:
        for index, item in enumerate(items):
            if item.route in (None, route):
                return items.pop(index)
        return None

    async def _enter(self, request: Request, route: str, user_id: str) -> Response | None:
        raw_body = await request.body()
        body: dict[str, Any] | None = None
        if raw_body:
            try:
                body = await request.json()
            except ValueError:
                return google_error(400, "Invalid JSON payload received.", "parseError")
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    route=route,
                    query=_query(request),
                    body=body,
                    headers=dict(request.headers),
                )
            )
            failure = self._take(self._failures, route)
            delay = self._take(self._delays, route)
            held = route in self._held_routes
            if held:
                self.held[route] = self.held.get(route, 0) + 1
                self._changed.notify_all()
        if held:
            await asyncio.to_thread(self._gate.wait, HOLD_LIMIT_SECONDS)
            with self._lock:
                self.held[route] -= 1
        if delay:
            await asyncio.sleep(delay.seconds)
        if failure:
            return google_error(failure.status, f"fake failure {failure.status}", failure.reason)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token or (self.access_token and token != self.access_token):
            return google_error(401, "Request had invalid authentication credentials.", "authError")
        if user_id not in ("me", self.email_address):
            return google_error(403, "Delegation denied", "forbidden")
        return None

    def _history_page(self, query: dict[str, list[str]]) -> Response:
        start_text = (query.get("startHistoryId") or [""])[0]
        if not start_text.isdigit():
            return google_error(400, "Invalid startHistoryId", "invalidArgument")
        start = int(start_text)
        types = query.get("historyTypes") or []
        labels = query.get("labelId")
        label = labels[0] if labels else None
        with self._lock:
            try:
                records = self.mailbox.added_since(start, label)
            except HistoryGone:
                return google_error(404, "Requested entity was not found.", "notFound")
            current = self.mailbox.history_id
        if types and "messageAdded" not in types:
            records = []
        page, next_page_token = page_of(records, (query.get("pageToken") or [""])[0], self.page_size)
        payload: dict[str, Any] = {"historyId": str(current)}
        if page:
            payload["history"] = [
                {
                    "id": str(history_id),
                    "messages": [{"id": stored.id, "threadId": stored.thread_id}],
                    "messagesAdded": [
                        {"message": {"id": stored.id, "threadId": stored.thread_id, "labelIds": list(stored.label_ids)}}
                    ],
                }
                for history_id, stored in page
            ]
        if next_page_token:
            payload["nextPageToken"] = next_page_token
        return JSONResponse(payload)

    def _list(self, query: dict[str, list[str]]) -> Response:
        max_text = (query.get("maxResults") or ["100"])[0]
        limit = min(int(max_text) if max_text.isdigit() else 100, self.list_page_size)
        with self._lock:
            matching = self.mailbox.newest_first((query.get("q") or [""])[0])
        page, next_page_token = page_of(matching, (query.get("pageToken") or [""])[0], limit)
        payload: dict[str, Any] = {"resultSizeEstimate": len(matching)}
        if page:
            payload["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if next_page_token:
            payload["nextPageToken"] = next_page_token
        return JSONResponse(payload)

    def _get(self, message_id: str, query: dict[str, list[str]]) -> Response:
        with self._lock:
            stored = self.mailbox.messages.get(message_id)
        if stored is None:
            return google_error(404, "Requested entity was not found.", "notFound")
        message_format = (query.get("format") or ["full"])[0]
        payload: dict[str, Any] = {
            "id": stored.id,
            "threadId": stored.thread_id,
            "labelIds": list(stored.label_ids),
            "historyId": str(stored.history_id),
            "internalDate": str(stored.internal_date_ms),
            "sizeEstimate": len(stored.raw),
        }
        if message_format == "raw":
            payload["raw"] = encode_base64url(stored.raw)
        elif message_format in ("full", "metadata"):
            parsed = message_from_bytes(stored.raw, policy=policy.default)
            part = _part_json(parsed, "")
            if message_format == "metadata":
                part = {"mimeType": part["mimeType"], "headers": part["headers"]}
            payload["payload"] = part
        elif message_format != "minimal":
            return google_error(400, f"Invalid value for format: {message_format}", "invalidArgument")
        return JSONResponse(payload)

    def _send(self, body: dict[str, Any] | None) -> Response:
        raw_text = (body or {}).get("raw")
        if not isinstance(raw_text, str) or not raw_text:
            return google_error(400, "Invalid raw message", "invalidArgument")
        try:
            raw = decode_base64url(raw_text)
        except ValueError:
            return google_error(400, "Invalid raw message", "invalidArgument")
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        if not parsed.get("To"):
            return google_error(400, "Invalid To header", "invalidArgument")
        thread_id = (body or {}).get("threadId") or None
        with self._lock:
            stored = self.mailbox.add_sent(raw, thread_id=thread_id)
            self.sent.append(SentMessage(id=stored.id, thread_id=stored.thread_id, message=parsed, raw=raw))
        return JSONResponse({"id": stored.id, "threadId": stored.thread_id, "labelIds": ["SENT"]})

    def _build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None)

        @app.post(f"{API_PREFIX}/watch")
        async def watch(user_id: str, request: Request) -> Response:
            error = await self._enter(request, "watch", user_id)
            if error:
                return error
            body = await request.json()
            if not body.get("topicName"):
                return google_error(400, "Invalid topicName", "invalidArgument")
            with self._lock:
                self.watches.append(body)
                result = self.mailbox.watch()
            expiration = int(result.expiration.timestamp() * 1000)
            return JSONResponse({"historyId": str(result.history_id), "expiration": str(expiration)})

        @app.get(f"{API_PREFIX}/history")
        async def history(user_id: str, request: Request) -> Response:
            error = await self._enter(request, "history", user_id)
            return error or self._history_page(_query(request))

        @app.get(f"{API_PREFIX}/messages")
        async def list_messages(user_id: str, request: Request) -> Response:
            error = await self._enter(request, "list", user_id)
            return error or self._list(_query(request))

        @app.post(f"{API_PREFIX}/messages/send")
        async def send(user_id: str, request: Request) -> Response:
            error = await self._enter(request, "send", user_id)
            if error:
                return error
            return self._send(await request.json())

        @app.get(f"{API_PREFIX}/messages/{{message_id}}")
        async def get_message(user_id: str, message_id: str, request: Request) -> Response:
            error = await self._enter(request, "get", user_id)
            return error or self._get(message_id, _query(request))

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            with self._lock:
                self.requests.append(
                    RecordedRequest(
                        method="POST",
                        path="/token",
                        route="token",
                        query={},
                        body=form,
                        headers=dict(request.headers),
                    )
                )
            if form.get("grant_type") != "refresh_token" or not form.get("refresh_token"):
                return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, status_code=400)
            payload = {"access_token": self.access_token or "refreshed", "expires_in": 3600, "token_type": "Bearer"}
            if form.get("scope"):
                payload["scope"] = form["scope"]
            return JSONResponse(payload)

        @app.get(f"{API_PREFIX}/profile")
        async def profile(user_id: str, request: Request) -> Response:
            error = await self._enter(request, "profile", user_id)
            if error:
                return error
            with self._lock:
                total = len(self.mailbox.messages)
                threads = len({m.thread_id for m in self.mailbox.messages.values()})
                current = self.mailbox.history_id
            return JSONResponse(
                {
                    "emailAddress": self.email_address,
                    "messagesTotal": total,
                    "threadsTotal": threads,
                    "historyId": str(current),
                }
            )

        return app


def _query(request: Request) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    return query


@dataclass
class FakeOidcIssuer(LoopbackFake):
    """Google's OIDC signing certs on loopback, and a minter of Pub/Sub-push-shaped RS256 tokens."""

    service_account_email: str = "pubsub-push@medcampaign-test.iam.gserviceaccount.com"
    audience: str = "https://clinic.example.com/pubsub/push"
    key_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cache_control: str = "public, max-age=3600"
    fetches: int = 0

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._signer = crypt.RSASigner.from_string(
            self._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            key_id=self.key_id,
        )
        self.certificate_pem = _self_signed_certificate(self._key)
        self.app = self._build_app()
        self.serve(self.app)

    @property
    def certs_url(self) -> str:
        """The URL to use as PUBSUB_OIDC_CERTS_URL."""
        return f"{self._server.url}/oauth2/v1/certs"

    def mint(
        self,
        *,
        audience: str | None = None,
        email: str | None = None,
        issuer: str = "https://accounts.google.com",
        email_verified: bool = True,
        expires_in: int = 3600,
        issued_at: int | None = None,
        signer: crypt.Signer | None = None,
        **extra: Any,
    ) -> str:
        """A signed token like the one Pub/Sub sends; every claim can be overridden to make a bad one."""
        now = int(time.time()) if issued_at is None else issued_at
        payload = {
            "aud": audience or self.audience,
            "azp": "1234567890",
            "email": email or self.service_account_email,
            "email_verified": email_verified,
            "exp": now + expires_in,
            "iat": now,
            "iss": issuer,
            "sub": "1234567890",
            **extra,
        }
        return jwt.encode(signer or self._signer, payload).decode("ascii")

    def _build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None)

        @app.get("/oauth2/v1/certs")
        async def certs() -> Response:
            self.fetches += 1
            return JSONResponse({self.key_id: self.certificate_pem}, headers={"Cache-Control": self.cache_control})

        return app


def other_signer(key_id: str) -> crypt.Signer:
    """A signer with a fresh key the issuer does not publish (a forged token), under `key_id`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return crypt.RSASigner.from_string(pem, key_id=key_id)


def _self_signed_certificate(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google-oidc")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def write_token_file(directory: Path) -> str:
    """An authorised-user token file that stays valid (far-future expiry), so the client never refreshes it."""
    path = directory / "token.json"
    token = {
        "token": "test",
        "refresh_token": "r",
        "client_id": "c",
        "client_secret": "s",
        "expiry": "2099-01-01T00:00:00Z",
        "type": "authorized_user",
    }
    path.write_text(json.dumps(token))
    return str(path)
