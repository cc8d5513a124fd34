"""Login under attack, against a live uvicorn: the lockout holds under concurrency, argon2 runs off the event loop
behind a bounded queue, one address is rate-limited, and oversized form fields are refused before any hashing."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from core.clock import FixedClock
from core.config import Settings
from core.container import Container
from core.security import Passwords, hash_password, verify_password
from db.repositories.users import UserRepository
from main import create_app
from models.enums import Role
from services.loopback import LiveServer

LOGIN = "/api/v1/auth/login"
EMAIL = "target@clinic.test"
PASSWORD = "correct horse battery"
HANG_GUARD_SECONDS = 60.0  # only stops a broken run from hanging; no assertion depends on time


class CountingVerifier:
    """verify_password, counted; with a closed gate each check stays in flight until `release()`."""

    def __init__(self, *, gated: bool = False):
        self._lock = threading.Lock()
        self._gate = threading.Event()
        if not gated:
            self._gate.set()
        self.calls = 0
        self.running = 0
        self.peak = 0
        self.finished = 0
        self.priorities: set[int] = set()

    def __call__(self, password: str, password_hash: str | None) -> bool:
        with self._lock:
            self.priorities.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            self._gate.wait(HANG_GUARD_SECONDS)
            return verify_password(password, password_hash)
        finally:
            with self._lock:
                self.running -= 1
                self.finished += 1

    def release(self) -> None:
        """Let every held check finish."""
        self._gate.set()


async def until(condition: Callable[[], bool]) -> None:
    """Wait until the condition holds (polling; the hang guard fails the test instead of hanging it)."""
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        while not condition():  # noqa: ASYNC110 - it changes in the server's threads, no event to await
            await asyncio.sleep(0.01)


def inject(app: FastAPI, verifier: CountingVerifier) -> None:
    """Give the running app a Passwords worker that checks through the verifier (its settings' limits)."""
    container: Container = app.state.container
    settings = container.settings
    container.passwords = Passwords(
        concurrency=settings.LOGIN_HASH_CONCURRENCY,
        queue=settings.LOGIN_HASH_QUEUE,
        nice=settings.LOGIN_HASH_NICE,
        busy_delay=settings.LOGIN_BUSY_DELAY_SECONDS,
        verify_func=verifier,
    )


Serve = Callable[..., Coroutine[Any, Any, httpx.AsyncClient]]


@pytest.fixture
async def serve(
    make_settings: Callable[..., Settings], live_server: Callable[[FastAPI], LiveServer], mongo_uri: str, db_name: str
) -> AsyncIterator[Serve]:
    """Start a live app (no per-IP limit unless given) checking passwords through a verifier; yields a client."""
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as mongo, AsyncExitStack() as stack:
        users = UserRepository(mongo[db_name])
        verifiers: list[CountingVerifier] = []

        async def start(
            verifier: CountingVerifier, clock: FixedClock | None = None, **overrides: Any
        ) -> httpx.AsyncClient:
            app = create_app(make_settings(**{"LOGIN_RATE_LIMIT_PER_IP": 0, **overrides}), clock=clock)
            server = live_server(app)
            inject(app, verifier)
            verifiers.append(verifier)
            await users.create_or_reset(
                email=EMAIL, password_hash=hash_password(PASSWORD), role=Role.STAFF, now=datetime.now(UTC)
            )
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            return await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.url, limits=limits, timeout=HANG_GUARD_SECONDS)
            )

        yield start
        for verifier in verifiers:
            verifier.release()  # a failed test must not leave checks held
        await mongo.drop_database(db_name)


async def attempt(http: httpx.AsyncClient, email: str = EMAIL, password: str = "wrong password!") -> httpx.Response:
    return await http.post(LOGIN, data={"username": email, "password": password})


def random_email() -> str:
    return f"nobody-{uuid.uuid4().hex[:12]}@clinic.test"


# ---- lockout under concurrency ----------------------------------------------------------------------------------


async def test_40_concurrent_wrong_logins_verify_at_most_max_failures(serve: Serve) -> None:
    verifier = CountingVerifier()
    # A queue long enough for all 40, so only the lockout can stop a check.
    http = await serve(verifier, LOGIN_HASH_QUEUE=100)
    responses = await asyncio.gather(*(attempt(http) for _ in range(40)))
    codes = Counter(r.status_code for r in responses)
    assert verifier.calls <= 5
    assert codes == {401: verifier.calls, 429: 40 - verifier.calls}
    assert {r.json()["error"] for r in responses if r.status_code == 429} == {"account_locked"}
    # The right password is refused too while the account is locked, and is not even checked.
    right = await attempt(http, password=PASSWORD)
    assert right.status_code == 429 and right.json()["error"] == "account_locked"
    assert verifier.calls <= 5


# ---- argon2 off the event loop, bounded ---------------------------------------------------------------------------


async def test_a_held_password_check_does_not_block_other_requests(serve: Serve) -> None:
    verifier = CountingVerifier(gated=True)
    http = await serve(verifier, LOGIN_HASH_CONCURRENCY=2)
    logins = [asyncio.create_task(attempt(http, random_email())) for _ in range(2)]
    await until(lambda: verifier.running == 2)
    # Both checks are held; the app still answers, and it does so before any check has finished.
    assert (await http.get("/")).status_code == 200
    assert (await http.get("/readyz")).status_code == 200
    assert verifier.finished == 0 and not any(t.done() for t in logins)
    verifier.release()
    assert [r.status_code for r in await asyncio.gather(*logins)] == [401, 401]


async def test_checks_beyond_the_cap_and_its_queue_are_refused_without_waiting_for_a_check(serve: Serve) -> None:
    verifier = CountingVerifier(gated=True)
    http = await serve(verifier, LOGIN_HASH_CONCURRENCY=2, LOGIN_HASH_QUEUE=3, LOGIN_BUSY_DELAY_SECONDS=0)
    logins = [asyncio.create_task(attempt(http, random_email())) for _ in range(10)]
    # 5 logins hold the places (2 checking, 3 waiting); the other 5 are answered while every check is held.
    done: set[asyncio.Task[httpx.Response]] = set()
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        while len(done) < 5:
            finished, _ = await asyncio.wait(set(logins) - done, return_when=asyncio.FIRST_COMPLETED)
            done |= finished
    await until(lambda: verifier.running == 2)
    assert verifier.finished == 0 and len(done) == 5
    refused = [t.result() for t in done]
    assert [r.status_code for r in refused] == [503] * len(refused)
    assert {r.json()["error"] for r in refused} == {"login_busy"}
    assert all(r.headers.get("retry-after") == "1" for r in refused)
    verifier.release()
    rest = await asyncio.gather(*(t for t in logins if t not in done))
    assert [r.status_code for r in rest] == [401] * 5
    assert verifier.calls == 5 and verifier.peak == 2


async def test_a_busy_refusal_is_answered_after_its_retry_after(serve: Serve) -> None:
    verifier = CountingVerifier(gated=True)
    http = await serve(verifier, LOGIN_HASH_CONCURRENCY=1, LOGIN_HASH_QUEUE=0, LOGIN_BUSY_DELAY_SECONDS=1)
    holder = asyncio.create_task(attempt(http, random_email()))
    await until(lambda: verifier.running == 1)
    started = time.monotonic()
    refused = await attempt(http, random_email())
    # A lower bound only (asyncio never wakes a sleep early): a client retrying at once is held to this pace.
    assert time.monotonic() - started >= 1
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    verifier.release()
    assert (await holder).status_code == 401


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU priorities are Linux-only")
async def test_password_checks_run_at_a_lower_cpu_priority(serve: Serve) -> None:
    verifier = CountingVerifier()
    http = await serve(verifier, LOGIN_HASH_NICE=15)
    assert (await attempt(http, random_email())).status_code == 401
    assert verifier.priorities == {15}


# ---- per-address limit ----------------------------------------------------------------------------------------


async def test_one_address_is_rate_limited_across_accounts(serve: Serve) -> None:
    verifier = CountingVerifier()
    # A fixed clock keeps all attempts in one window whenever the test runs.
    http = await serve(verifier, FixedClock(datetime(2030, 1, 7, 10, 0, 30, tzinfo=UTC)), LOGIN_RATE_LIMIT_PER_IP=3)
    responses = [await attempt(http, random_email()) for _ in range(4)]
    assert [r.status_code for r in responses] == [401, 401, 401, 429]
    assert responses[-1].json()["error"] == "rate_limited" and responses[-1].headers["retry-after"]
    # Refused before the password check, even with the right password.
    assert (await attempt(http, password=PASSWORD)).status_code == 429
    assert verifier.calls == 3


# ---- stored attempts expire ---------------------------------------------------------------------------------------


async def test_login_attempts_carry_an_expiry_under_a_ttl_index(
    client: httpx.AsyncClient, container: Container
) -> None:
    indexes = await container.db["login_attempts"].index_information()
    ttl = [spec for spec in indexes.values() if "expireAfterSeconds" in spec]
    assert [(spec["key"], spec["expireAfterSeconds"]) for spec in ttl] == [([("expires_at", 1)], 0)]
    assert (await attempt(client, random_email())).status_code == 401
    stored = await container.db["login_attempts"].find_one()
    assert stored is not None and stored["expires_at"] > datetime.now(UTC)


# ---- bounded form fields ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [("a" * 243 + "@clinic.test", "x", "username"), (EMAIL, "p" * 1025, "password")],
)
async def test_oversized_login_fields_are_422_before_any_hashing(
    app: FastAPI, client: httpx.AsyncClient, username: str, password: str, field: str
) -> None:
    verifier = CountingVerifier()
    inject(app, verifier)
    response = await attempt(client, username, password)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error" and [f["field"] for f in body["fields"]] == [field]
    assert "p" * 1025 not in response.text
    assert verifier.calls == 0
    # At the limits the form is accepted and checked (a wrong password, so 401).
    at_limit = await attempt(client, "a" * 242 + "@clinic.test", "p" * 1024)
    assert at_limit.status_code == 401 and verifier.calls == 1


async def test_ipv6_addresses_share_their_64s_limit(make_settings: Callable[..., Settings], mongo_uri: str) -> None:
    app = create_app(
        make_settings(LOGIN_RATE_LIMIT_PER_IP=2), clock=FixedClock(datetime(2030, 1, 7, 10, 0, 30, tzinfo=UTC))
    )

    async def from_address(host: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return (await attempt(http, random_email())).status_code

    async with app.router.lifespan_context(app):
        same_64 = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::7", "2001:db8:1:2:abcd:ef01:2345:6789"]
        assert [await from_address(host) for host in same_64] == [401, 401, 429]
        assert await from_address("2001:db8:1:3::1") == 401
