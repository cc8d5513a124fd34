"""`make run` (scripts/dev.py): a generated development secret, and the demo admin only on the embedded database."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.config import MIN_JWT_SECRET_LENGTH, Settings
from core.container import Container
from scripts import dev
from scripts.seed_demo import DEMO_ADMIN_EMAIL, demo_admin_allowed, seed

EMBEDDED = "mongodb://127.0.0.1:40123"


def settings_for(**values: Any) -> Settings:
    base = {"JWT_SECRET_KEY": "s" * 48, "PUBLIC_BASE_URL": "https://clinic.example", "SMTP_HOST": "smtp.example"}
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("values", "embedded_uri", "allowed"),
    [
        ({"MONGO_URI": EMBEDDED}, EMBEDDED, True),  # the database `make run` started itself
        ({"MONGO_URI": "mongodb://db.internal:27017"}, None, False),  # MONGO_URI points elsewhere
        ({"MONGO_URI": "mongodb://db.internal:27017"}, EMBEDDED, False),
        ({"MONGO_URI": None}, None, False),  # the local default server is not the embedded one
        ({"MONGO_URI": EMBEDDED, "ENVIRONMENT": "production"}, EMBEDDED, False),
    ],
)
def test_the_demo_admin_is_allowed_only_on_the_embedded_database(
    values: dict[str, Any], embedded_uri: str | None, allowed: bool
) -> None:
    assert demo_admin_allowed(settings_for(**values), embedded_uri=embedded_uri) is allowed


async def test_make_run_on_a_mongo_uri_database_creates_no_demo_admin(
    container: Container, make_settings: Callable[..., Settings], mongo_uri: str
) -> None:
    await seed(container, patients=5, progress=False)  # not empty: prepare() only decides about the admin
    settings = make_settings(ENVIRONMENT="development")

    assert await dev.prepare(settings, embedded_uri=None) is False
    assert await container.repos.users.count() == 0

    assert await dev.prepare(settings, embedded_uri=mongo_uri) is True  # as if make run had started it
    assert await container.repos.users.get_by_email(DEMO_ADMIN_EMAIL) is not None


def test_the_generated_development_secret_passes_the_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setattr(dev, "VAR", tmp_path / "var")
    monkeypatch.setenv("JWT_SECRET_KEY", "change-me")  # the placeholder (and undone after the test)
    monkeypatch.setenv("ENVIRONMENT", "development")

    dev.ensure_dev_secret()
    first = os.environ["JWT_SECRET_KEY"]
    dev.ensure_dev_secret()  # reused on the next start, so tokens and links survive a restart

    assert os.environ["JWT_SECRET_KEY"] == first and len(first) >= MIN_JWT_SECRET_LENGTH
    assert (tmp_path / "var" / "jwt-secret").stat().st_mode & 0o077 == 0
    assert Settings().JWT_SECRET_KEY == first


@pytest.mark.parametrize(("configured", "runs"), [(None, True), ("true", True), ("false", False)])
def test_make_run_runs_the_follow_up_worker_unless_told_not_to(
    configured: str | None, runs: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("WORKER_ENABLED", "placeholder")  # restored (removed) after the test, whatever dev sets
    if configured is None:
        monkeypatch.delenv("WORKER_ENABLED")
    else:
        monkeypatch.setenv("WORKER_ENABLED", configured)

    assert dev.enable_worker() is runs
    assert settings_for().WORKER_ENABLED is runs  # what the server's lifespan reads to start the loop


def test_a_worker_setting_in_dot_env_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("WORKER_ENABLED=false\n")
    monkeypatch.setenv("WORKER_ENABLED", "placeholder")
    monkeypatch.delenv("WORKER_ENABLED")

    assert dev.enable_worker() is False
    assert "WORKER_ENABLED" not in os.environ
    assert Settings(JWT_SECRET_KEY="s" * 48).WORKER_ENABLED is False
