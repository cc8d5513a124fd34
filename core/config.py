"""Application settings: one typed object, read once, failing fast in production."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date, time
from functools import cached_property
from typing import Annotated, Literal, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.keys import Purpose, derive_key
from core.phone import is_region

DEFAULT_JWT_SECRET = "change-me"  # noqa: S105 - the placeholder every environment but test refuses
DEV_MONGO_URI = "mongodb://127.0.0.1:27017"
MIN_JWT_SECRET_LENGTH = 32
GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"  # noqa: S105 - a command
DEFAULT_MAX_BODY_BYTES = 64 * 1024

CsvList = Annotated[list[str], NoDecode]
APPOINTMENT_DURATIONS = (30, 45)
DEFAULT_SERVICES = "Check-up:30,Cleaning:45,Filling:45,Whitening:45,Crown fitting:45,Consultation:30,Follow-up visit:30"
MAX_SERVICE_NAME_LENGTH = 100
# The outreach request allows a 240-character booking link; a campaign's link adds "?c=" and a 43-character token.
BOOKING_URL_MAX_LENGTH = 190


@dataclass(frozen=True)
class ClinicService:
    """A visit type patients can book, with its fixed length."""

    name: str
    duration_minutes: Literal[30, 45]


def parse_services(entries: list[str]) -> list[ClinicService]:
    """`Name:minutes` entries as services; ValueError naming the first bad entry."""
    services: list[ClinicService] = []
    for entry in entries:
        name, _, minutes = entry.rpartition(":")
        name = name.strip()
        if not name or not minutes.strip().isdigit() or int(minutes) not in APPOINTMENT_DURATIONS:
            raise ValueError(
                f"CLINIC_SERVICES entry {entry!r} must be Name:minutes with minutes 30 or 45, e.g. Check-up:30"
            )
        if len(name) > MAX_SERVICE_NAME_LENGTH or any(not ch.isprintable() for ch in name):
            raise ValueError(f"CLINIC_SERVICES name {name!r} must be printable and at most 100 characters")
        if any(s.name.casefold() == name.casefold() for s in services):
            raise ValueError(f"CLINIC_SERVICES lists {name!r} twice")
        services.append(ClinicService(name, cast(Literal[30, 45], int(minutes))))
    if not services:
        raise ValueError("CLINIC_SERVICES must list at least one service, e.g. Check-up:30")
    return services


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every configuration value of the service, from the environment or `.env`."""

    # hide_input_in_errors: a start-up error must not print the other values (SMTP_PASSWORD, tokens...).
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True, hide_input_in_errors=True)

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
    CONSOLE_SESSION_MINUTES: int = Field(default=30, gt=0, le=24 * 60)  # a console session ends after this idle time
    TZ: str = "UTC"
    LOG_LEVEL: str = "INFO"
    METRICS_ENABLED: bool = True
    METRICS_TOKEN: str = ""  # when set, GET /metrics needs `Authorization: Bearer <token>`
    DOCS_ENABLED: bool | None = None  # /docs, /redoc, /openapi.json; unset = on outside production
    MAX_BODY_BYTES: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)

    # Login throttling
    LOGIN_MAX_FAILURES: int = Field(default=5, ge=1)
    LOGIN_FAILURE_WINDOW_MINUTES: int = Field(default=15, ge=1)
    LOGIN_LOCKOUT_MINUTES: int = Field(default=15, ge=1)
    LOGIN_RATE_LIMIT_PER_IP: int = Field(default=20, ge=0)  # attempts per minute per address (IPv6 /64); 0 = none
    LOGIN_HASH_CONCURRENCY: int = Field(default=2, ge=1, le=64)  # argon2 checks running at once (threads)
    LOGIN_HASH_QUEUE: int = Field(default=16, ge=0)  # logins waiting for a check; beyond, login answers 503
    LOGIN_HASH_NICE: int = Field(default=19, ge=0, le=19)  # CPU priority of those threads below the event loop's
    LOGIN_BUSY_DELAY_SECONDS: float = Field(default=1.0, ge=0, le=30)  # a login refused as busy is answered after this

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
    CLINIC_SERVICES: CsvList = Field(default_factory=lambda: DEFAULT_SERVICES.split(","))
    RESCHEDULE_LIMIT_PER_DAY: int = Field(default=3, ge=0)  # per appointment; 0 = no limit
    CONFIRMATION_EMAILS_PER_RECIPIENT_PER_DAY: int = Field(default=5, ge=0)  # 0 = no limit
    PHONE_DEFAULT_REGION: str = "US"
    BOOKING_URL: str = ""
    AVAILABILITY_CACHE_SECONDS: float = Field(default=5.0, ge=0)
    KB_CACHE_SECONDS: float = Field(default=30.0, ge=0)  # how long a KB edit may take to reach replies
    MANAGE_TOKEN_TTL_DAYS: int = Field(default=180, ge=1)
    CAMPAIGN_LINK_TTL_DAYS: int = Field(default=60, ge=1, le=3650)  # how long a /book?c= link attributes

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
    # Days after a campaign became ENGAGED without a booking: one follow-up on the reply, then a hand-off to staff.
    ENGAGED_NUDGE_DAYS: int = Field(default=3, ge=1, le=365)
    ENGAGED_TIMEOUT_DAYS: int = Field(default=7, ge=2, le=365)

    # SMTP
    EMAIL_BACKEND: Literal["smtp", "disabled"] = "smtp"
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
        "CLINIC_SERVICES",
        mode="before",
    )(_split_csv)

    @field_validator("CLINIC_SERVICES")
    @classmethod
    def _valid_services(cls, value: list[str]) -> list[str]:
        parse_services(value)
        return value

    @field_validator("PHONE_DEFAULT_REGION")
    @classmethod
    def _valid_region(cls, value: str) -> str:
        if not is_region(value):
            raise ValueError(f"PHONE_DEFAULT_REGION must be an ISO 3166 region code such as US or DE, got {value!r}")
        return value.upper()

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
        if self.ENGAGED_TIMEOUT_DAYS <= self.ENGAGED_NUDGE_DAYS:
            raise ValueError("ENGAGED_TIMEOUT_DAYS must be more than ENGAGED_NUDGE_DAYS (the nudge comes first)")
        if len(self.booking_url) > BOOKING_URL_MAX_LENGTH:
            raise ValueError(
                f"BOOKING_URL (or PUBLIC_BASE_URL + /book) must be at most {BOOKING_URL_MAX_LENGTH} characters:"
                " with its campaign token it must still fit in an SMS"
            )
        problems = [] if self.ENVIRONMENT == "test" else _secret_problems(self)
        if self.is_production:
            problems += _production_problems(self)
        if problems:
            raise ValueError(f"invalid {self.ENVIRONMENT} configuration: " + "; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        """True when running in production mode."""
        return self.ENVIRONMENT == "production"

    @property
    def docs_enabled(self) -> bool:
        """Serve /docs, /redoc and /openapi.json: DOCS_ENABLED when set, else everywhere but production."""
        return self.DOCS_ENABLED if self.DOCS_ENABLED is not None else not self.is_production

    @property
    def email_enabled(self) -> bool:
        """True when email should go out through SMTP (EMAIL_BACKEND=smtp and a host configured)."""
        return self.EMAIL_BACKEND == "smtp" and bool(self.SMTP_HOST)

    @property
    def sms_enabled(self) -> bool:
        """True when texts and calls go out through Twilio (account, token and sending number configured)."""
        return bool(self.TWILIO_ACCOUNT_SID and self.TWILIO_AUTH_TOKEN and self.TWILIO_PHONE_NUMBER)

    @property
    def email_outbox(self) -> bool:
        """In development without SMTP_HOST, emails are kept in the outbox (EMAIL_BACKEND=disabled drops them)."""
        return self.ENVIRONMENT == "development" and self.EMAIL_BACKEND == "smtp" and not self.SMTP_HOST

    @property
    def sms_outbox(self) -> bool:
        """In development without Twilio, texts and calls are kept in the outbox collection (never in production)."""
        return self.ENVIRONMENT == "development" and not self.sms_enabled

    @property
    def outbox_enabled(self) -> bool:
        """The console's Outbox is shown: some channel is kept instead of sent."""
        return self.email_outbox or self.sms_outbox

    def key(self, purpose: Purpose) -> bytes:
        """The signing key of one purpose (see core/keys.py Purpose), derived from JWT_SECRET_KEY."""
        return derive_key(self.JWT_SECRET_KEY, purpose)

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

    @cached_property
    def services(self) -> list[ClinicService]:
        """Bookable visit types with their durations, in the configured order."""
        return parse_services(self.CLINIC_SERVICES)

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
_LOCAL_HOSTS = frozenset({"localhost", "localhost.", "0.0.0.0", "::", "::1"})  # noqa: S104 - refused, not bound


def _secret_problems(settings: Settings) -> list[str]:
    """Why JWT_SECRET_KEY is unusable (the placeholder or too short), with how to make a good one."""
    secret = settings.JWT_SECRET_KEY
    if secret != DEFAULT_JWT_SECRET and len(secret) >= MIN_JWT_SECRET_LENGTH:
        return []
    why = "is the placeholder 'change-me'" if secret == DEFAULT_JWT_SECRET else f"has only {len(secret)} characters"
    hint = " (`make run` generates one in var/jwt-secret)" if settings.ENVIRONMENT == "development" else ""
    return [
        f"JWT_SECRET_KEY {why}; it must be a random secret of at least {MIN_JWT_SECRET_LENGTH} characters"
        f"{hint}. Generate one with: {GENERATE_SECRET}"
    ]


def _production_problems(settings: Settings) -> list[str]:
    """What production refuses beyond a weak secret: no database, open CORS, no mail relay, a local base URL."""
    problems = []
    if not settings.MONGO_URI:
        problems.append("MONGO_URI is required in production")
    if "*" in settings.ALLOWED_ORIGINS and settings.CORS_ALLOW_CREDENTIALS:
        problems.append(
            "ALLOWED_ORIGINS=* cannot be combined with CORS_ALLOW_CREDENTIALS=true;"
            " list the exact origins or set CORS_ALLOW_CREDENTIALS=false"
        )
    if settings.EMAIL_BACKEND == "smtp" and not settings.SMTP_HOST:
        problems.append(
            "SMTP_HOST is required in production (set EMAIL_BACKEND=disabled to run without sending email on purpose)"
        )
    if not _is_public_https(settings.PUBLIC_BASE_URL):
        problems.append(
            "PUBLIC_BASE_URL must be the public https:// address of this service (not localhost or a loopback"
            " address): patients' links are built from it"
        )
    return problems


def _is_public_https(url: str) -> bool:
    """An https URL whose host is not localhost, a loopback or the unspecified address."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or host in _LOCAL_HOSTS or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_unspecified)
