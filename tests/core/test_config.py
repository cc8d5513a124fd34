"""Settings validation."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from pydantic import ValidationError

from core.config import Settings

GOOD_SECRET = "x" * 48
PRODUCTION: dict[str, Any] = {
    "ENVIRONMENT": "production",
    "MONGO_URI": "mongodb://db",
    "JWT_SECRET_KEY": GOOD_SECRET,
    "ALLOWED_ORIGINS": "https://a.example",
    "SMTP_HOST": "smtp.example.com",
    "PUBLIC_BASE_URL": "https://clinic.example.com",
}


def build(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_production_settings_used_here_are_valid() -> None:
    settings = build(**PRODUCTION)
    assert settings.is_production and not settings.docs_enabled and settings.email_enabled


def test_development_defaults_are_usable() -> None:
    settings = build(JWT_SECRET_KEY=GOOD_SECRET)
    assert settings.ENVIRONMENT == "development"
    assert settings.mongo_uri.startswith("mongodb://")
    assert settings.CLINIC_OPEN == time(9, 0) and settings.CLINIC_CLOSE == time(20, 30)
    assert settings.follow_up_cadence == [2, 5, 10]


def test_production_requires_mongo_uri() -> None:
    with pytest.raises(ValidationError, match="MONGO_URI is required"):
        build(**{**PRODUCTION, "MONGO_URI": None})


@pytest.mark.parametrize("environment", ["production", "development"])
@pytest.mark.parametrize("secret", ["change-me", "short-secret", ""])
def test_every_environment_but_test_refuses_a_default_or_short_jwt_secret(environment: str, secret: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY") as info:
        build(**{**PRODUCTION, "ENVIRONMENT": environment, "JWT_SECRET_KEY": secret})
    assert "secrets.token_urlsafe(48)" in str(info.value)  # tells the operator how to make one


def test_the_unset_secret_is_refused_in_development_with_the_make_run_hint() -> None:
    with pytest.raises(ValidationError, match=r"placeholder 'change-me'.*var/jwt-secret"):
        build()


@pytest.mark.parametrize("secret", ["change-me", "short"])
def test_the_test_environment_accepts_any_secret(secret: str) -> None:
    assert build(ENVIRONMENT="test", JWT_SECRET_KEY=secret).JWT_SECRET_KEY == secret


def test_errors_do_not_echo_configured_values() -> None:
    with pytest.raises(ValidationError) as info:
        build(ENVIRONMENT="production", SMTP_PASSWORD="smtp-pw-do-not-print", TWILIO_AUTH_TOKEN="tw-do-not-print")
    assert "do-not-print" not in str(info.value)


def test_production_refuses_wildcard_origins_with_credentials() -> None:
    with pytest.raises(ValidationError, match=r"ALLOWED_ORIGINS=\*"):
        build(**{**PRODUCTION, "ALLOWED_ORIGINS": "*"})


def test_production_accepts_wildcard_without_credentials() -> None:
    settings = build(**{**PRODUCTION, "ALLOWED_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": False})
    assert settings.cors_credentials is False


def test_production_requires_smtp_unless_email_is_disabled_on_purpose() -> None:
    with pytest.raises(ValidationError, match=r"SMTP_HOST is required.*EMAIL_BACKEND=disabled"):
        build(**{**PRODUCTION, "SMTP_HOST": ""})
    disabled = build(**{**PRODUCTION, "SMTP_HOST": "", "EMAIL_BACKEND": "disabled"})
    assert disabled.email_enabled is False
    assert build(**{**PRODUCTION, "EMAIL_BACKEND": "disabled"}).email_enabled is False  # a host does not re-enable it


@pytest.mark.parametrize(
    "url",
    [
        "http://clinic.example.com",
        "https://localhost",
        "https://LOCALHOST:8443/",
        "https://app.localhost",
        "https://127.0.0.1:8000",
        "https://127.0.0.2",
        "https://[::1]:8000",
        "https://0.0.0.0",
        "https://",
        "clinic.example.com",
    ],
)
def test_production_refuses_a_base_url_that_is_not_public_https(url: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL must be"):
        build(**{**PRODUCTION, "PUBLIC_BASE_URL": url})


@pytest.mark.parametrize(
    "url", ["https://clinic.example.com", "https://clinic.example.com:8443/base", "https://10.0.0.5"]
)
def test_production_accepts_a_public_https_base_url(url: str) -> None:
    assert build(**{**PRODUCTION, "PUBLIC_BASE_URL": url}).PUBLIC_BASE_URL == url


def test_docs_are_off_in_production_unless_enabled() -> None:
    assert build(**PRODUCTION).docs_enabled is False
    assert build(**{**PRODUCTION, "DOCS_ENABLED": True}).docs_enabled is True
    assert build(JWT_SECRET_KEY=GOOD_SECRET).docs_enabled is True
    assert build(JWT_SECRET_KEY=GOOD_SECRET, DOCS_ENABLED=False).docs_enabled is False


def test_wildcard_disables_credentials_outside_production() -> None:
    assert build(ENVIRONMENT="test", ALLOWED_ORIGINS="*").cors_credentials is False
    assert build(ENVIRONMENT="test", ALLOWED_ORIGINS="https://a.example,https://b.example").ALLOWED_ORIGINS == [
        "https://a.example",
        "https://b.example",
    ]


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        build(ENVIRONMENT="production", ALLOWED_ORIGINS="*")
    message = str(info.value)
    for name in ("MONGO_URI", "JWT_SECRET_KEY", "ALLOWED_ORIGINS", "SMTP_HOST", "PUBLIC_BASE_URL"):
        assert name in message


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
        build(ENVIRONMENT="test", **{field: value})


def test_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("TZ", "America/New_York")
    monkeypatch.setenv("CLINIC_HOLIDAYS", "2026-12-25,2026-12-26")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.zone.key == "America/New_York"
    assert settings.CLINIC_HOLIDAYS == ["2026-12-25", "2026-12-26"]


def test_sample_env_documents_every_setting_and_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    from pathlib import Path

    monkeypatch.setenv("JWT_SECRET_KEY", GOOD_SECRET)  # sample.env leaves it unset: each install makes its own
    path = Path(__file__).resolve().parents[2] / "sample.env"
    present = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", path.read_text(), re.MULTILINE))
    assert set(Settings.model_fields) <= present
    loaded = Settings(_env_file=str(path))  # type: ignore[call-arg]
    assert loaded.FOLLOW_UP_MAX_ATTEMPTS == 3 and loaded.follow_up_cadence == [2, 5, 10]


def test_engaged_follow_through_defaults_and_order() -> None:
    settings = Settings(_env_file=None, ENVIRONMENT="test")  # type: ignore[call-arg]
    assert (settings.ENGAGED_NUDGE_DAYS, settings.ENGAGED_TIMEOUT_DAYS) == (3, 7)
    with pytest.raises(ValueError, match="ENGAGED_TIMEOUT_DAYS must be more than ENGAGED_NUDGE_DAYS"):
        Settings(_env_file=None, ENVIRONMENT="test", ENGAGED_NUDGE_DAYS=7, ENGAGED_TIMEOUT_DAYS=7)  # type: ignore[call-arg]
