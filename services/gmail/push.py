"""Pub/Sub push for Gmail: decode the envelope, check the shared token, verify Google's OIDC bearer token.

The OIDC signing certs are fetched with httpx's async client (never blocking the event loop), cached for the
endpoint's Cache-Control max-age, fetched by one task at a time, and refetched at most once per
MIN_REFETCH_SECONDS (for a rotated key id or after a failed fetch). Signature checks are CPU-only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import google.auth.exceptions
import httpx
from google.auth import jwt

if TYPE_CHECKING:
    from core.config import Settings

logger = logging.getLogger(__name__)

GOOGLE_OIDC_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
MAX_ENVELOPE_BYTES = 1_000_000
DEFAULT_CERTS_CACHE_SECONDS = 3600.0
MIN_REFETCH_SECONDS = 30.0
_RFC3339_FRACTION_DIGITS = 6


@dataclass(frozen=True)
class PushNotice:
    """One decoded Gmail push: which mailbox changed and its new history id."""

    message_id: str  # the Pub/Sub messageId: the unique key of this delivery
    email_address: str
    history_id: int
    publish_time: datetime | None  # aware UTC; None when Pub/Sub's publishTime is absent or unparseable


def _parse_publish_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Pub/Sub may send nanoseconds; datetime takes at most microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:_RFC3339_FRACTION_DIGITS].ljust(_RFC3339_FRACTION_DIGITS, '0')}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _b64decode(data: str) -> bytes | None:
    padded = data.strip() + "=" * (-len(data.strip()) % 4)
    # Pub/Sub sends standard base64; accept the URL-safe alphabet too, but no stray characters.
    standard = padded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        return None


def _history_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value) or None
    return None


def decode_push(body: bytes) -> PushNotice | None:
    """The notice in a Pub/Sub push body, or None when the envelope is malformed in any way."""
    if len(body) > MAX_ENVELOPE_BYTES:
        return None
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        return None
    message_id = message.get("messageId") or message.get("message_id")
    data = message.get("data")
    if not isinstance(message_id, str) or not message_id or not isinstance(data, str) or not data:
        return None
    decoded = _b64decode(data)
    if decoded is None:
        return None
    try:
        payload = json.loads(decoded)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    email_address = payload.get("emailAddress")
    history_id = _history_id(payload.get("historyId"))
    if not isinstance(email_address, str) or "@" not in email_address or history_id is None:
        return None
    return PushNotice(
        message_id=message_id,
        email_address=email_address.strip().lower(),
        history_id=history_id,
        publish_time=_parse_publish_time(message.get("publishTime") or message.get("publish_time")),
    )


def verify_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of the push `?token=`; always False when no token is configured."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bearer_token(authorization: str | None) -> str | None:
    """The token in an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def _unverified_header(token: str) -> dict[str, Any] | None:
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return header if isinstance(header, dict) else None


def _max_age(cache_control: str | None, default: float) -> float:
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(value.strip())
    return default


class OidcVerifier:
    """Verifies the Google-signed OIDC token Pub/Sub sends with each push (audience, issuer, service account)."""

    def __init__(
        self,
        *,
        audience: str,
        service_account_email: str,
        certs_url: str = GOOGLE_OIDC_CERTS_URL,
        timeout: float = 5.0,
        clock_skew_seconds: int = 10,
        default_cache_seconds: float = DEFAULT_CERTS_CACHE_SECONDS,
    ) -> None:
        if not audience or not service_account_email:
            raise ValueError("OIDC push verification needs PUBSUB_OIDC_AUDIENCE and PUBSUB_OIDC_SERVICE_ACCOUNT")
        self.audience = audience
        self.service_account_email = service_account_email.strip().lower()
        self.certs_url = certs_url
        self.timeout = timeout
        self.clock_skew_seconds = clock_skew_seconds
        self.default_cache_seconds = default_cache_seconds
        self.fetch_count = 0
        self._certs: dict[str, str] = {}
        self._expires_at = float("-inf")
        self._last_attempt = float("-inf")
        self._fetch_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcVerifier | None:
        """The verifier when PUBSUB_OIDC_AUDIENCE or PUBSUB_OIDC_SERVICE_ACCOUNT is set, else None."""
        if not (settings.PUBSUB_OIDC_AUDIENCE or settings.PUBSUB_OIDC_SERVICE_ACCOUNT):
            return None
        return cls(
            audience=settings.PUBSUB_OIDC_AUDIENCE,
            service_account_email=settings.PUBSUB_OIDC_SERVICE_ACCOUNT,
            certs_url=settings.PUBSUB_OIDC_CERTS_URL,
        )

    def _lock(self) -> asyncio.Lock:
        # asyncio.Lock belongs to one event loop; the verifier may outlive a loop (tests, reloads).
        loop = asyncio.get_running_loop()
        if self._fetch_lock is None or self._lock_loop is not loop:
            self._fetch_lock, self._lock_loop = asyncio.Lock(), loop
        return self._fetch_lock

    def _wants_fetch(self, key_id: str | None, now: float) -> bool:
        if now - self._last_attempt < MIN_REFETCH_SECONDS:
            return False  # at most one attempt per window: no fetch storm on outages or unknown key ids
        unknown_key = key_id is not None and key_id not in self._certs
        return now >= self._expires_at or unknown_key

    async def _fetch_certs(self) -> None:
        self._last_attempt = time.monotonic()
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.get(self.certs_url)
        response.raise_for_status()
        certs = response.json()
        if not isinstance(certs, dict) or not all(isinstance(v, str) for v in certs.values()):
            raise ValueError("the certs endpoint did not answer a {key id: PEM certificate} map")
        self.fetch_count += 1
        self._certs = certs
        self._expires_at = time.monotonic() + _max_age(
            response.headers.get("cache-control"), self.default_cache_seconds
        )

    async def _certs_for(self, key_id: str | None) -> dict[str, str]:
        lock = self._lock()
        if lock.locked() or self._wants_fetch(key_id, time.monotonic()):  # a fetch in flight: wait for it
            async with lock:
                if self._wants_fetch(key_id, time.monotonic()):  # another task may have fetched meanwhile
                    try:
                        await self._fetch_certs()
                    except (httpx.HTTPError, ValueError) as exc:
                        # Stale certs stay in use; Google rotates keys slowly and publishes them well ahead.
                        logger.warning("could not fetch Google OIDC certs: %s", type(exc).__name__)
        return self._certs

    async def claims(self, authorization: str | None) -> dict[str, Any] | None:
        """The verified claims of the push's bearer token, or None when it is missing or not acceptable."""
        token = bearer_token(authorization)
        header = _unverified_header(token) if token else None
        if token is None or header is None or header.get("alg") != "RS256":
            return None
        key_id = header.get("kid")
        certs = await self._certs_for(key_id if isinstance(key_id, str) else None)
        if not certs:
            return None
        try:
            claims = jwt.decode(
                token, certs=certs, audience=self.audience, clock_skew_in_seconds=self.clock_skew_seconds
            )
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            logger.info("push OIDC token rejected: %s", type(exc).__name__)
            return None
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer not in GOOGLE_ISSUERS:
            logger.info("push OIDC token rejected: issuer")
            return None
        email = claims.get("email")
        if not isinstance(email, str) or email.strip().lower() != self.service_account_email:
            logger.info("push OIDC token rejected: service account")
            return None
        if claims.get("email_verified") not in (True, "true"):
            logger.info("push OIDC token rejected: email not verified")
            return None
        return dict(claims)

    async def verify(self, authorization: str | None) -> bool:
        """True when the `Authorization: Bearer <JWT>` header carries an acceptable Google-signed token."""
        return await self.claims(authorization) is not None
