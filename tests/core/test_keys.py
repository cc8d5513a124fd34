"""Per-purpose keys derived from JWT_SECRET_KEY (HKDF-SHA256) and the signed link tokens that use them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

from core.config import Settings
from core.keys import KEY_LENGTH, Purpose, derive_key, hkdf_sha256
from core.security import sign_token, verify_token
from domain.booking import MANAGE_PURPOSE
from domain.consent import UNSUBSCRIBE_PURPOSE

SECRET = "a-root-secret-long-enough-for-every-environment-0123"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_hkdf_matches_the_rfc_5869_test_vectors() -> None:
    # RFC 5869 appendix A.1 (basic) and A.3 (zero-length salt and info).
    ikm = bytes.fromhex("0b" * 22)
    okm = hkdf_sha256(ikm, salt=bytes(range(13)), info=bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), length=42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    assert hkdf_sha256(ikm, salt=b"", info=b"", length=42).hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )


def test_each_purpose_has_its_own_key_and_none_is_the_secret() -> None:
    settings = Settings(_env_file=None, ENVIRONMENT="test", JWT_SECRET_KEY=SECRET)  # type: ignore[call-arg]
    keys = {purpose: settings.key(purpose) for purpose in get_args(Purpose)}

    assert set(keys) == {"access", "manage", "unsubscribe", "campaign", "console"}
    assert len(set(keys.values())) == len(keys)
    assert all(len(key) == KEY_LENGTH and SECRET.encode() not in key for key in keys.values())
    assert keys["manage"] == derive_key(SECRET, "manage")  # stable: links sent yesterday still verify
    assert derive_key(SECRET + "x", "manage") != keys["manage"]


def test_link_tokens_round_trip_only_with_their_own_purpose_and_key() -> None:
    manage, unsubscribe = derive_key(SECRET, "manage"), derive_key(SECRET, "unsubscribe")
    token = sign_token(purpose=MANAGE_PURPOSE, subject="appt-1", expires=NOW + timedelta(days=1), key=manage)

    assert verify_token(token, purpose=MANAGE_PURPOSE, key=manage, now=NOW) == "appt-1"
    assert verify_token(token, purpose=UNSUBSCRIBE_PURPOSE, key=unsubscribe, now=NOW) is None
    assert verify_token(token, purpose=MANAGE_PURPOSE, key=unsubscribe, now=NOW) is None
    assert verify_token(token, purpose=MANAGE_PURPOSE, key=manage, now=NOW + timedelta(days=2)) is None
