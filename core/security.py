"""Password hashing (pwdlib argon2), JWT access tokens (PyJWT) and signed opaque tokens."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import math
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from core.errors import ServiceUnavailable

_hasher = PasswordHash((Argon2Hasher(),))
MIN_PASSWORD_LENGTH = 12  # the password policy of every account, whoever sets the password
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; the cap bounds what a request can make it hash


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so both paths cost the same (made on first use)."""
    return _hasher.hash("not-a-real-password-only-for-timing")


def prepare_login_timing() -> None:
    """Make the dummy hash now (API start-up), so the first unknown-user login costs the same as the others."""
    _dummy_hash()


def hash_password(password: str) -> str:
    """Hash a password with argon2."""
    return _hasher.hash(password)


def password_problem(password: str) -> str | None:
    """What is wrong with a new password under the policy, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must be at most {MAX_PASSWORD_LENGTH} characters long."
    return None


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash, still spend the same time and fail."""
    if password_hash is None:
        _hasher.verify(password, _dummy_hash())
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # a corrupt stored hash is a failed login, not a crash
        return False


def _lower_priority(nice: int) -> None:
    """Run this thread (and the threads argon2 starts from it) at a lower CPU priority than the event loop."""
    with contextlib.suppress(AttributeError, OSError):  # per-thread priorities are Linux-only; elsewhere no-op
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


class Passwords:
    """argon2 off the event loop: `concurrency` checks at once; logins beyond `queue` waiting are refused (503)."""

    def __init__(
        self,
        *,
        concurrency: int,
        queue: int,
        nice: int = 0,
        busy_delay: float = 0.0,
        verify_func: Callable[[str, str | None], bool] = verify_password,
    ):
        self.concurrency = concurrency
        self.queue = queue
        self.busy_delay = busy_delay
        self._verify = verify_func
        self._executor = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="argon2", initializer=_lower_priority, initargs=(nice,)
        )
        self._pending = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a login's place for its whole check, or refuse at once when every place is taken."""
        # Refused before any database work: a flood of logins must cost the loop as little as possible.
        if self._pending >= self.concurrency + self.queue:
            # Answered after the Retry-After it names: a client that retries at once is held to that pace, and a
            # sleeping request costs the loop nothing, where an instant refusal invites a tight retry loop.
            await asyncio.sleep(self.busy_delay)
            raise ServiceUnavailable(
                "Too many sign-ins at once; try again in a moment",
                error="login_busy",
                headers={"Retry-After": str(max(1, math.ceil(self.busy_delay)))},
            )
        self._pending += 1
        try:
            yield
        finally:
            self._pending -= 1

    def close(self) -> None:
        """Stop the worker threads once the checks in flight end."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: str) -> str:
        """hash_password in one of the worker threads (argon2 would hold the event loop for its whole run)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, hash_password, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """verify_password in one of the worker threads."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._verify, password, password_hash)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The check runs on regardless; its slot stays held until it ends, so the bound still holds.
            await asyncio.wait([future])
            raise


def create_access_token(
    *, subject: str, role: str, key: bytes, algorithm: str, expires: timedelta, now: datetime, version: int = 0
) -> str:
    """Sign a JWT with sub, role, iat, exp and the user's token version, with the access-token key."""
    claims = {"sub": subject, "role": role, "iat": now, "exp": now + expires, "type": "access", "ver": version}
    return jwt.encode(claims, key, algorithm=algorithm)


def decode_access_token(token: str, *, key: bytes, algorithm: str) -> dict[str, Any]:
    """Verify a JWT against the one configured algorithm; raises jwt.InvalidTokenError."""
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=[algorithm], options={"require": ["exp", "iat", "sub"]})
    if claims.get("type") != "access":
        raise jwt.InvalidTokenError("not an access token")
    return claims


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a string: how tokens and identifiers are stored when only a lookup is needed."""
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Compare secrets without leaking timing."""
    return hmac.compare_digest(a.encode(), b.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(*, purpose: str, subject: str, expires: datetime, key: bytes) -> str:
    """An opaque, signed, expiring token for a patient link, with that purpose's key (Settings.key(purpose))."""
    payload = f"{subject}.{int(expires.timestamp())}.{secrets.token_urlsafe(12)}"
    mac = hmac.new(key, f"{purpose}:{payload}".encode(), hashlib.sha256).digest()
    return f"{_b64(payload.encode())}.{_b64(mac)}"


COMPACT_MAC_BYTES = 16  # a 128-bit tag: out of reach of forgery, and short enough for an SMS link
_EXPIRY_BYTES = 4  # seconds since the epoch, unsigned: good until 2106
_COMPACT_MAX_LENGTH = 128


def sign_compact_token(*, purpose: str, subject: bytes, expires: datetime, key: bytes) -> str:
    """A short signed, expiring token for a binary subject (an ObjectId's 12 bytes give 43 characters)."""
    payload = subject + int(expires.timestamp()).to_bytes(_EXPIRY_BYTES, "big")
    mac = hmac.new(key, purpose.encode() + b":" + payload, hashlib.sha256).digest()[:COMPACT_MAC_BYTES]
    return _b64(payload + mac)


def verify_compact_token(token: str, *, purpose: str, key: bytes, now: datetime) -> bytes | None:
    """The subject of a valid, unexpired compact token for this purpose, else None."""
    if len(token) > _COMPACT_MAX_LENGTH:
        return None
    try:
        raw = _unb64(token)
    except ValueError:
        return None
    # The decoder skips characters outside the alphabet: only the one canonical spelling of a token is accepted.
    if len(raw) <= _EXPIRY_BYTES + COMPACT_MAC_BYTES or _b64(raw) != token:
        return None
    payload, given = raw[:-COMPACT_MAC_BYTES], raw[-COMPACT_MAC_BYTES:]
    expected = hmac.new(key, purpose.encode() + b":" + payload, hashlib.sha256).digest()[:COMPACT_MAC_BYTES]
    if not hmac.compare_digest(given, expected):
        return None
    if int.from_bytes(payload[-_EXPIRY_BYTES:], "big") < now.timestamp():
        return None
    return payload[:-_EXPIRY_BYTES]


def verify_token(token: str, *, purpose: str, key: bytes, now: datetime) -> str | None:
    """The subject of a valid, unexpired token for this purpose, else None."""
    try:
        encoded, signature = token.split(".")
        payload = _unb64(encoded).decode()
        subject, expires, _nonce = payload.split(".")
        given = _unb64(signature)
    except (ValueError, UnicodeDecodeError):
        return None
    expected = hmac.new(key, f"{purpose}:{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected) or int(expires) < now.timestamp():
        return None
    return subject
