"""One key per purpose, derived from JWT_SECRET_KEY with HKDF-SHA256 (RFC 5869), so no two uses share a key."""

from __future__ import annotations

import hashlib
import hmac
from functools import cache
from typing import Literal

# access: staff JWTs; manage: patients' appointment links; unsubscribe: opt-out links; campaign: /book?c= links;
# console: the staff console's sign-in form token.
Purpose = Literal["access", "manage", "unsubscribe", "campaign", "console"]
KEY_LENGTH = 64  # bytes: PyJWT wants at least the hash size, and HS512 is the largest algorithm allowed
_SALT = b"medcampaign-keys-v1"  # fixed: the secret is already random; changing it rotates every key
_HASH_LENGTH = hashlib.sha256().digest_size


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF with SHA-256: extract a pseudorandom key from `ikm`, expand it to `length` bytes."""
    if not 0 < length <= 255 * _HASH_LENGTH:
        raise ValueError(f"HKDF-SHA256 can derive 1..{255 * _HASH_LENGTH} bytes, not {length}")
    prk = hmac.new(salt or bytes(_HASH_LENGTH), ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // _HASH_LENGTH) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


@cache
def derive_key(secret: str, purpose: Purpose) -> bytes:
    """The key for one purpose; the raw secret itself never signs anything."""
    return hkdf_sha256(secret.encode(), salt=_SALT, info=f"medcampaign/{purpose}".encode(), length=KEY_LENGTH)
