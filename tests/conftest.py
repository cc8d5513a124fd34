"""Test harness: a real wire-protocol MongoDB server, a fresh database per test, the app and a client."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from core.config import Settings
from core.container import Container
from core.security import hash_password
from db.embedded import EmbeddedMongo
from main import create_app
from models.enums import Role
from services.llm.fake_server import FakeOpenAI
from services.loopback import LiveServer
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.support import TEST_JWT_SECRET


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MONGO_TEST_URI when given, else an embedded SecantusDB on a free loopback port."""
    given = os.environ.get("MONGO_TEST_URI")
    if given:
        yield given
        return
    root = tmp_path_factory.mktemp("secantusdb")
    server = EmbeddedMongo(root / "data", log_path=root / "server.log")
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture
def db_name() -> str:
    """A database name of this test's own."""
    return f"test_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def make_settings(mongo_uri: str, db_name: str) -> Callable[..., Settings]:
    """Build test settings over this test's database; keyword overrides win."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "ENVIRONMENT": "test",
            "MONGO_URI": mongo_uri,
            "MONGO_DB_NAME": db_name,
            "JWT_SECRET_KEY": TEST_JWT_SECRET,
            "TZ": "Europe/Berlin",
            "LOG_LEVEL": "INFO",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Default test settings."""
    return make_settings()


@pytest.fixture
async def app(settings: Settings, mongo_uri: str, db_name: str) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running; its database is dropped afterwards."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
    async with AsyncMongoClient[dict[str, Any]](mongo_uri) as cleanup:
        await cleanup.drop_database(db_name)


@pytest.fixture
def container(app: FastAPI) -> Container:
    """The running app's container."""
    result: Container = app.state.container
    return result


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def make_user(container: Container) -> Callable[..., Any]:
    """Create a staff account; returns its (email, password)."""

    async def create(
        email: str = "staff@clinic.test", password: str = "correct horse battery", *, role: Role = Role.STAFF
    ) -> tuple[str, str]:
        await container.repos.users.create_or_reset(
            email=email, password_hash=hash_password(password), role=role, now=container.clock.now()
        )
        return email, password

    return create


@pytest.fixture
def login(client: httpx.AsyncClient, make_user: Callable[..., Any]) -> Callable[..., Any]:
    """Create a user of a role and return Authorization headers for it."""

    async def do(role: Role = Role.STAFF, email: str | None = None) -> dict[str, str]:
        address = email or f"{role.value}-{uuid.uuid4().hex[:6]}@clinic.test"
        user, password = await make_user(address, role=role)
        response = await client.post("/api/v1/auth/login", data={"username": user, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return do


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[[FastAPI], LiveServer]]:
    """Serve apps with a real uvicorn on a loopback port (for real concurrency)."""
    servers: list[LiveServer] = []

    def start(application: FastAPI) -> LiveServer:
        server = LiveServer(application)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real aiosmtpd server on a loopback port; `.messages` holds what it received."""
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    """A loopback fake of Twilio's REST API for the real twilio client."""
    fake = FakeTwilio()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    """A loopback fake of OpenAI's chat completions for the real ChatOpenAI."""
    fake = FakeOpenAI()
    fake.start()
    yield fake
    fake.stop()
