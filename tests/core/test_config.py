"""Settings validation."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from pydantic import ValidationError

from core.config import Settings

GOOD_SECRET = "x" * 48


def build(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_development_defaults_are_usable() -> None:
    settings = build()
    assert settings.ENVIRONMENT == "development"
    assert settings.mongo_uri.startswith("mongodb://")
    assert settings.CLINIC_OPEN == time(9, 0) and settings.CLINIC_CLOSE == time(20, 30)
    assert settings.follow_up_cadence == [2, 5, 10]


def test_production_requires_mongo_uri() -> None:
    with pytest.raises(ValidationError, match="MONGO_URI is required"):
        build(ENVIRONMENT="production", JWT_SECRET_KEY=GOOD_SECRET, ALLOWED_ORIGINS="https://a.example")


@pytest.mark.parametrize("secret", ["change-me", "short-secret"])
def test_production_refuses_default_or_short_jwt_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY"):
        build(
            ENVIRONMENT="production",
            MONGO_URI="mongodb://db",
            JWT_SECRET_KEY=secret,
            ALLOWED_ORIGINS="https://a.example",
        )


def test_production_refuses_wildcard_origins_with_credentials() -> None:
    with pytest.raises(ValidationError, match=r"ALLOWED_ORIGINS=\*"):
        build(ENVIRONMENT="production", MONGO_URI="mongodb://db", JWT_SECRET_KEY=GOOD_SECRET, ALLOWED_ORIGINS="*")


def test_production_accepts_wildcard_without_credentials() -> None:
    settings = build(
        ENVIRONMENT="production",
        MONGO_URI="mongodb://db",
        JWT_SECRET_KEY=GOOD_SECRET,
        ALLOWED_ORIGINS="*",
        CORS_ALLOW_CREDENTIALS=False,
    )
    assert settings.cors_credentials is False


def test_wildcard_disables_credentials_outside_production() -> None:
    assert build(ALLOWED_ORIGINS="*").cors_credentials is False
    assert build(ALLOWED_ORIGINS="https://a.example,https://b.example").ALLOWED_ORIGINS == [
        "https://a.example",
        "https://b.example",
    ]


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        build(ENVIRONMENT="production", ALLOWED_ORIGINS="*")
    message = str(info.value)
    assert "MONGO_URI" in message and "JWT_SECRET_KEY" in message and "ALLOWED_ORIGINS" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("TZ", "Mars/Olympus"),
        ("CLINIC_WORKING_DAYS", "mon,funday"),
        ("CLINIC_HOLIDAYS", "2026-13-01"),
        ("FOLLOW_UP_CADENCE_DAYS", "2,0"),
        ("CLINIC_CLOSE", "08:00"),
    ],
)
def test_invalid_values_fail_fast(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        build(**{field: value})


def test_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    monkeypatch.setenv("CLINIC_HOLIDAYS", "2026-12-25,2026-12-26")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.zone.key == "America/New_York"
    assert settings.CLINIC_HOLIDAYS == ["2026-12-25", "2026-12-26"]


def test_sample_env_documents_every_setting_and_loads() -> None:
    import re
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "sample.env"
    present = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", path.read_text(), re.MULTILINE))
    assert set(Settings.model_fields) <= present
    loaded = Settings(_env_file=str(path))  # type: ignore[call-arg]
    assert loaded.FOLLOW_UP_MAX_ATTEMPTS == 3 and loaded.follow_up_cadence == [2, 5, 10]
