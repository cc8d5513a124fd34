"""Pub/Sub push: envelope decoding, the shared token, and OIDC bearer tokens against loopback-served certs."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.config import Settings
from db.embedded import free_port
from services.gmail.fake_server import FakeOidcIssuer, other_signer
from services.gmail.push import OidcVerifier, PushNotice, bearer_token, decode_push, verify_token


def envelope(data: Any, *, message: dict[str, Any] | None = None, raw_data: str | None = None) -> bytes:
    """A push body as Pub/Sub sends it."""
    encoded = raw_data if raw_data is not None else base64.b64encode(json.dumps(data).encode()).decode()
    body = {
        "messageId": "2070443601311540",
        "message_id": "2070443601311540",
        "publishTime": "2021-02-26T19:13:55.749Z",
        "data": encoded,
        **(message or {}),
    }
    return json.dumps({"message": body, "subscription": "projects/p/subscriptions/gmail-push"}).encode()


def test_decode_valid_envelope() -> None:
    notice = decode_push(envelope({"emailAddress": "Clinic@Example.com", "historyId": 9876543210}))
    assert notice == PushNotice(
        message_id="2070443601311540",
        email_address="clinic@example.com",
        history_id=9876543210,
        publish_time=datetime(2021, 2, 26, 19, 13, 55, 749000, tzinfo=UTC),
    )


def test_decode_accepts_string_history_id_nanoseconds_and_snake_case_ids() -> None:
    body = json.dumps(
        {
            "message": {
                "message_id": "42",
                "publish_time": "2024-05-01T10:00:00.123456789Z",
                "data": base64.urlsafe_b64encode(b'{"emailAddress":"c@example.com","historyId":"77"}')
                .decode()
                .rstrip("="),
            }
        }
    ).encode()
    notice = decode_push(body)
    assert notice is not None
    assert (notice.message_id, notice.history_id) == ("42", 77)
    assert notice.publish_time == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def test_decode_without_publish_time_keeps_the_notice() -> None:
    notice = decode_push(
        envelope(
            {"emailAddress": "c@example.com", "historyId": 5},
            message={"publishTime": "yesterday", "publish_time": None},
        )
    )
    assert notice is not None
    assert notice.publish_time is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"message": "x"}',
        b'{"subscription": "s"}',
        json.dumps({"message": {"messageId": "1"}}).encode(),
        json.dumps(
            {"message": {"data": base64.b64encode(b'{"emailAddress":"c@x.com","historyId":1}').decode()}}
        ).encode(),
        envelope(None, raw_data="!!!not base64!!!"),
        envelope(None, raw_data=base64.b64encode(b"not json").decode()),
        envelope(None, raw_data=base64.b64encode(b"\xff\xfe").decode()),
        envelope(["a list"]),
        envelope({"historyId": 5}),
        envelope({"emailAddress": "c@example.com"}),
        envelope({"emailAddress": "not-an-address", "historyId": 5}),
        envelope({"emailAddress": "c@example.com", "historyId": -5}),
        envelope({"emailAddress": "c@example.com", "historyId": True}),
        envelope({"emailAddress": "c@example.com", "historyId": "12abc"}),
        envelope({"emailAddress": "c@example.com", "historyId": 1.5}),
        envelope({"emailAddress": 7, "historyId": 5}),
        b"{" * 2_000_000,
    ],
    ids=lambda body: repr(body[:40]),
)
def test_decode_malformed_envelope_returns_none(body: bytes) -> None:
    assert decode_push(body) is None


def test_verify_token() -> None:
    assert verify_token("s3cret-token", "s3cret-token")
    assert not verify_token("s3cret-tokem", "s3cret-token")
    assert not verify_token("", "s3cret-token")
    assert not verify_token(None, "s3cret-token")
    assert not verify_token("", "")
    assert not verify_token("anything", "")
    assert verify_token("tökén", "tökén")
    assert not verify_token("tökén", "token")


def test_bearer_token() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer  abc") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token("Bearer a b") is None
    assert bearer_token(None) is None


@pytest.fixture
def issuer() -> Iterator[FakeOidcIssuer]:
    """Google's OIDC certs on loopback, with a token minter."""
    fake = FakeOidcIssuer()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def verifier(issuer: FakeOidcIssuer) -> OidcVerifier:
    """A verifier expecting the issuer's audience and service account."""
    return OidcVerifier(
        audience=issuer.audience,
        service_account_email=issuer.service_account_email,
        certs_url=issuer.certs_url,
        clock_skew_seconds=0,
    )


async def test_valid_token_is_accepted_and_certs_are_cached(verifier: OidcVerifier, issuer: FakeOidcIssuer) -> None:
    assert await verifier.verify(f"Bearer {issuer.mint()}")
    assert await verifier.verify(f"Bearer {issuer.mint(issuer='accounts.google.com')}")
    claims = await verifier.claims(f"Bearer {issuer.mint()}")
    assert claims is not None and claims["email"] == issuer.service_account_email
    assert issuer.fetches == 1


async def test_concurrent_verifications_on_a_cold_cache_fetch_once(
    verifier: OidcVerifier, issuer: FakeOidcIssuer
) -> None:
    tokens = [issuer.mint() for _ in range(10)]
    results = await asyncio.gather(*(verifier.verify(f"Bearer {token}") for token in tokens))
    assert all(results)
    assert issuer.fetches == verifier.fetch_count == 1


async def test_expired_cache_is_refetched_and_outages_keep_the_stale_certs(issuer: FakeOidcIssuer) -> None:
    issuer.cache_control = "max-age=0"
    verifier = OidcVerifier(
        audience=issuer.audience,
        service_account_email=issuer.service_account_email,
        certs_url=issuer.certs_url,
        timeout=2,
    )
    assert await verifier.verify(f"Bearer {issuer.mint()}")
    assert await verifier.verify(f"Bearer {issuer.mint()}")
    assert issuer.fetches == 1  # expired, but within the minimum refetch interval
    verifier._last_attempt -= 3600  # as if the interval had passed
    assert await verifier.verify(f"Bearer {issuer.mint()}")
    assert issuer.fetches == 2
    issuer.stop()
    verifier._last_attempt -= 3600
    assert await verifier.verify(f"Bearer {issuer.mint()}")  # fetch fails, the cached certs still verify


@pytest.mark.parametrize(
    "overrides",
    [
        {"audience": "https://attacker.example/pubsub/push"},
        {"issuer": "https://evil.example.com"},
        {"email": "someone-else@medcampaign-test.iam.gserviceaccount.com"},
        {"email_verified": False},
        {"issued_at": int(time.time()) - 7200, "expires_in": 3600},
        {"issued_at": int(time.time()) + 3600},
    ],
    ids=["audience", "issuer", "email", "email_not_verified", "expired", "issued_in_future"],
)
async def test_bad_claims_are_rejected(
    verifier: OidcVerifier, issuer: FakeOidcIssuer, overrides: dict[str, Any]
) -> None:
    assert not await verifier.verify(f"Bearer {issuer.mint(**overrides)}")


async def test_forged_signature_is_rejected(verifier: OidcVerifier, issuer: FakeOidcIssuer) -> None:
    forged = issuer.mint(signer=other_signer(issuer.key_id))
    assert not await verifier.verify(f"Bearer {forged}")


async def test_unknown_key_id_is_rejected_without_refetch_storms(
    verifier: OidcVerifier, issuer: FakeOidcIssuer
) -> None:
    assert await verifier.verify(f"Bearer {issuer.mint()}")
    for _ in range(5):
        assert not await verifier.verify(f"Bearer {issuer.mint(signer=other_signer('rotated-key'))}")
    assert issuer.fetches == 1  # the first fetch was under MIN_REFETCH_SECONDS ago


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer "
        + base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
        + "."
        + base64.urlsafe_b64encode(b'{"iss":"https://accounts.google.com"}').decode().rstrip("=")
        + ".",
    ],
)
async def test_missing_or_malformed_bearer_is_rejected(verifier: OidcVerifier, authorization: str | None) -> None:
    assert not await verifier.verify(authorization)


async def test_unreachable_certs_endpoint_rejects_instead_of_raising(issuer: FakeOidcIssuer) -> None:
    offline = OidcVerifier(
        audience=issuer.audience,
        service_account_email=issuer.service_account_email,
        certs_url=f"http://127.0.0.1:{free_port()}/oauth2/v1/certs",
        timeout=2,
    )
    assert not await offline.verify(f"Bearer {issuer.mint()}")


def test_from_settings() -> None:
    base: dict[str, Any] = {"_env_file": None, "ENVIRONMENT": "test"}
    assert OidcVerifier.from_settings(Settings(**base)) is None
    configured = OidcVerifier.from_settings(
        Settings(
            **base,
            PUBSUB_OIDC_AUDIENCE="https://clinic.example.com/pubsub/push",
            PUBSUB_OIDC_SERVICE_ACCOUNT="Push@P.iam.gserviceaccount.com",
            PUBSUB_OIDC_CERTS_URL="http://127.0.0.1:1/c",
        )
    )
    assert configured is not None
    assert configured.service_account_email == "push@p.iam.gserviceaccount.com"
    assert configured.certs_url == "http://127.0.0.1:1/c"
    assert Settings(**base).PUBSUB_OIDC_CERTS_URL == "https://www.googleapis.com/oauth2/v1/certs"
    with pytest.raises(ValueError, match="PUBSUB_OIDC_AUDIENCE"):
        OidcVerifier.from_settings(Settings(**base, PUBSUB_OIDC_SERVICE_ACCOUNT="push@p.iam.gserviceaccount.com"))
