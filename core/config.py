"""Application settings: one typed object, read once, failing fast in production."""

from __future__ import annotations

import re
from datetime import date, time
from functools import cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_JWT_SECRET = "change-me"  # noqa: S105 - the placeholder production refuses
DEV_MONGO_URI = "mongodb://127.0.0.1:27017"
MIN_JWT_SECRET_LENGTH = 32

CsvList = Annotated[list[str], NoDecode]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every configuration value of the service, from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    # Core
    ENVIRONMENT: Literal["development", "test", "production"] = "development"
    ALLOWED_ORIGINS: CsvList = Field(default_factory=lambda: ["http://localhost:3000"])
    CORS_ALLOW_CREDENTIALS: bool = True
    MONGO_URI: str | None = None
    MONGO_DB_NAME: str = "medcampaign"
    MONGO_TIMEOUT_MS: int = Field(default=5000, ge=100)
    JWT_SECRET_KEY: str = DEFAULT_JWT_SECRET
    JWT_ALGORITHM: Literal["HS256", "HS384", "HS512"] = "HS256"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=30, ge=1, le=24 * 60)
    TZ: str = "UTC"
    LOG_LEVEL: str = "INFO"
    METRICS_ENABLED: bool = True

    # Login throttling
    LOGIN_MAX_FAILURES: int = Field(default=5, ge=1)
    LOGIN_FAILURE_WINDOW_MINUTES: int = Field(default=15, ge=1)
    LOGIN_LOCKOUT_MINUTES: int = Field(default=15, ge=1)

    # Branding
    CLINIC_NAME: str = "Your Clinic Name"
    CLINIC_PHONE: str = "+1-555-123-4567"
    CLINIC_ADDRESS: str = "123 Main Street, Springfield"
    CLINIC_EMAIL: str = "clinic@example.com"
    CONSULTING_DOCTOR: str = "Dr. Smith"
    CLINIC_DOCTORS: CsvList = Field(default_factory=list)
    PUBLIC_BASE_URL: str = "http://localhost:8000"

    # Clinic hours and booking rules
    CLINIC_OPEN: time = time(9, 0)
    CLINIC_CLOSE: time = time(20, 30)
    CLINIC_WORKING_DAYS: CsvList = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat"])
    CLINIC_HOLIDAYS: CsvList = Field(default_factory=list)
    BOOKING_MIN_NOTICE_MINUTES: int = Field(default=120, ge=0)
    BOOKING_MAX_DAYS_AHEAD: int = Field(default=90, ge=1)
    CANCEL_MIN_NOTICE_HOURS: int = Field(default=24, ge=0)
    BOOKING_RATE_LIMIT_PER_IP: int = Field(default=20, ge=0)
    BOOKING_RATE_LIMIT_PER_EMAIL: int = Field(default=5, ge=0)
    BOOKING_URL: str = ""
    AVAILABILITY_CACHE_SECONDS: float = Field(default=5.0, ge=0)
    KB_CACHE_SECONDS: float = Field(default=30.0, ge=0)  # how long a KB edit may take to reach replies
    MANAGE_TOKEN_TTL_DAYS: int = Field(default=180, ge=1)

    # Outreach
    WORKER_ENABLED: bool = False
    QUIET_HOURS_START: time = time(8, 0)
    QUIET_HOURS_END: time = time(20, 0)
    FOLLOW_UP_CADENCE_DAYS: CsvList = Field(default_factory=lambda: ["2", "5", "10"])
    FOLLOW_UP_MAX_ATTEMPTS: int = Field(default=3, ge=1, le=10)
    OUTREACH_RETRY_DELAYS_SECONDS: CsvList = Field(default_factory=lambda: ["1", "4"])
    OUTREACH_RETRY_LATER_MINUTES: int = Field(default=30, ge=1)
    OUTREACH_LEASE_SECONDS: int = Field(default=120, ge=5)
    WORKER_POLL_SECONDS: float = Field(default=5.0, gt=0)
    WORKER_BATCH_SIZE: int = Field(default=50, ge=1)

    # SMTP
    SMTP_HOST: str = ""
    SMTP_PORT: int = 587
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_FROM_EMAIL: str = "clinic@example.com"
    SMTP_FROM_NAME: str = "Your Clinic"
    SMTP_STARTTLS: bool = True
    SMTP_TIMEOUT_SECONDS: float = 10.0
    SMTP_POOL_SIZE: int = Field(default=4, ge=1, le=64)  # connections kept open to the relay (and sends at once)

    # Reply agent
    REPLY_MIN_CONFIDENCE: float = Field(default=0.6, ge=0, le=1)
    REPLY_DAILY_CAP_PER_SENDER: int = Field(default=3, ge=1)
    REPLY_CONCURRENCY: int = Field(default=8, ge=1, le=64)
    GMAIL_MAINTENANCE_ENABLED: bool = True  # watch renewal, poll fallback and sweeper inside the app
    GMAIL_POLL_SECONDS: float = Field(default=300.0, gt=0)
    GMAIL_FULL_SYNC_MAX: int = Field(default=50, ge=1, le=500)
    # The authserv-id of the receiving mailbox's own Authentication-Results header (Gmail: mx.google.com); a
    # sender known only by its From address is acted on only when that header shows the From domain authenticated.
    INBOUND_AUTHSERV_ID: str = "mx.google.com"

    # Google / Gmail
    GOOGLE_CLIENT_SECRETS_FILE: str = ""
    GOOGLE_TOKEN_FILE: str = ""
    GMAIL_TOPIC_NAME: str = ""
    GMAIL_LABEL_IDS: CsvList = Field(default_factory=lambda: ["INBOX"])
    GMAIL_LABEL_FILTER_ACTION: Literal["include", "exclude"] = "include"
    GMAIL_PROCESS_REPLIES_ONLY: bool = False
    GMAIL_API_BASE_URL: str = ""
    PUBSUB_VERIFICATION_TOKEN: str = ""
    PUBSUB_OIDC_AUDIENCE: str = ""
    PUBSUB_OIDC_SERVICE_ACCOUNT: str = ""

    # Twilio
    TWILIO_ACCOUNT_SID: str = ""
    TWILIO_AUTH_TOKEN: str = ""
    TWILIO_PHONE_NUMBER: str = ""
    TWILIO_API_BASE_URL: str = ""

    # LLM
    OPENAI_API_KEY: str = ""
    OPENAI_MODEL: str = "gpt-4o-mini"
    OPENAI_BASE_URL: str = ""
    LLM_TIMEOUT_SECONDS: float = Field(default=20.0, gt=0)

    # Admin dashboard: the oldest a served snapshot may be, and how long it keeps refreshing after the last request
    DASHBOARD_MAX_AGE_SECONDS: float = Field(default=30.0, gt=0)
    DASHBOARD_KEEP_FRESH_SECONDS: float = Field(default=300.0, ge=0)

    # Gmail adapter (services/gmail): per-request HTTP timeout, and where Pub/Sub push OIDC signing certs live
    GMAIL_API_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    PUBSUB_OIDC_CERTS_URL: str = "https://www.googleapis.com/oauth2/v1/certs"

    _split = field_validator(
        "ALLOWED_ORIGINS",
        "CLINIC_WORKING_DAYS",
        "CLINIC_HOLIDAYS",
        "GMAIL_LABEL_IDS",
        "CLINIC_DOCTORS",
        "FOLLOW_UP_CADENCE_DAYS",
        "OUTREACH_RETRY_DELAYS_SECONDS",
        mode="before",
    )(_split_csv)

    @field_validator("TZ")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"TZ must be an IANA timezone name such as Europe/Berlin, got {value!r}") from exc
        return value

    @field_validator("CLINIC_WORKING_DAYS")
    @classmethod
    def _valid_weekdays(cls, value: list[str]) -> list[str]:
        days = [day.lower()[:3] for day in value]
        unknown = [day for day in days if day not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown weekday(s) {unknown}; use mon,tue,wed,thu,fri,sat,sun")
        return days

    @field_validator("CLINIC_HOLIDAYS")
    @classmethod
    def _valid_holidays(cls, value: list[str]) -> list[str]:
        for day in value:
            date.fromisoformat(day)
        return value

    @field_validator("FOLLOW_UP_CADENCE_DAYS")
    @classmethod
    def _valid_cadence(cls, value: list[str]) -> list[str]:
        if not value or any(not re.fullmatch(r"\d+", v) or int(v) < 1 for v in value):
            raise ValueError("FOLLOW_UP_CADENCE_DAYS must be comma-separated positive day counts, e.g. 2,5,10")
        return value

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        if self.CLINIC_CLOSE <= self.CLINIC_OPEN:
            raise ValueError("CLINIC_CLOSE must be after CLINIC_OPEN")
        if self.ENVIRONMENT != "production":
            return self
        problems = []
        if not self.MONGO_URI:
            problems.append("MONGO_URI is required in production")
        if self.JWT_SECRET_KEY == DEFAULT_JWT_SECRET or len(self.JWT_SECRET_KEY) < MIN_JWT_SECRET_LENGTH:
            problems.append(
                f"JWT_SECRET_KEY must be a random secret of at least {MIN_JWT_SECRET_LENGTH} characters"
                " (generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if "*" in self.ALLOWED_ORIGINS and self.CORS_ALLOW_CREDENTIALS:
            problems.append(
                "ALLOWED_ORIGINS=* cannot be combined with CORS_ALLOW_CREDENTIALS=true;"
                " list the exact origins or set CORS_ALLOW_CREDENTIALS=false"
            )
        if problems:
            raise ValueError("invalid production configuration: " + "; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        """True when running in production mode."""
        return self.ENVIRONMENT == "production"

    @property
    def mongo_uri(self) -> str:
        """The MongoDB URI to use (a local default outside production)."""
        return self.MONGO_URI or DEV_MONGO_URI

    @property
    def cors_credentials(self) -> bool:
        """Credentials are never allowed with a wildcard origin."""
        return self.CORS_ALLOW_CREDENTIALS and "*" not in self.ALLOWED_ORIGINS

    @cached_property
    def zone(self) -> ZoneInfo:
        """The clinic timezone."""
        return ZoneInfo(self.TZ)

    @property
    def follow_up_cadence(self) -> list[int]:
        """Days between follow-up attempts."""
        return [int(v) for v in self.FOLLOW_UP_CADENCE_DAYS]

    @property
    def doctors(self) -> list[str]:
        """Bookable doctors; the consulting doctor is always one of them."""
        return list(dict.fromkeys([self.CONSULTING_DOCTOR, *self.CLINIC_DOCTORS]))

    @property
    def booking_url(self) -> str:
        """Where patients book (the public booking page)."""
        return self.BOOKING_URL or f"{self.PUBLIC_BASE_URL.rstrip('/')}/book"

    @property
    def outreach_retry_delays(self) -> list[float]:
        """Seconds to wait between in-process retries of a failed send."""
        return [float(v) for v in self.OUTREACH_RETRY_DELAYS_SECONDS]

    @property
    def llm_enabled(self) -> bool:
        """True when an LLM endpoint is configured."""
        return bool(self.OPENAI_API_KEY)

    @property
    def gmail_enabled(self) -> bool:
        """Gmail runs only when a topic and a token file are configured."""
        return bool(self.GMAIL_TOPIC_NAME and self.GOOGLE_TOKEN_FILE)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
