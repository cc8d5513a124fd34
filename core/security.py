"""Password hashing (pwdlib argon2), JWT access tokens (PyJWT) and signed opaque tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(),))


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


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash, still spend the same time and fail."""
    if password_hash is None:
        _hasher.verify(password, _dummy_hash())
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # a corrupt stored hash is a failed login, not a crash
        return False


def create_access_token(
    *, subject: str, role: str, key: bytes, algorithm: str, expires: timedelta, now: datetime
) -> str:
    """Sign a JWT with sub, role, iat and exp, with the access-token key (Settings.key("access"))."""
    claims = {"sub": subject, "role": role, "iat": now, "exp": now + expires, "type": "access"}
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
