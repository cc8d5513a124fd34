"""JSON logs to stdout with a request id, and a filter that keeps PHI and secrets out."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REDACTED = "[redacted]"
# The only extra fields logged as given (their string values still scrubbed); any other field is redacted, so a new
# `extra={"diagnosis": ...}` cannot leak PHI until someone decides it is safe and lists it here.
ALLOWED_EXTRA_KEYS = frozenset(
    {
        "action",
        "appointment_id",
        "attempt",
        "attempts",
        "campaign_id",
        "channel",
        "code",
        "converted",
        "database",
        "duration_ms",
        "environment",
        "error_type",
        "event_id",
        "failed",
        "imported",
        "line",
        "llm_task",
        "max_age_seconds",
        "method",
        "opt_out",
        "outbound_id",
        "owner",
        "patient_id",
        "port",
        "reason",
        "rejected",
        "restored",
        "retryable",
        "route",
        "seconds",
        "status",
        "total",
        "tries",
        "updated",
        "worker",
    }
)
_PATTERNS = [
    # `?token=...`, `&code=...` style secrets in URLs
    (re.compile(r"(?i)([?&;](?:token|code|key|signature|sig|access_token|password)=)[^&\s\"']+"), r"\1" + REDACTED),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer " + REDACTED),
    # JWTs and similar three-part tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), REDACTED),
    # phone numbers: E.164 and common national formats (7+ digits with separators)
    (re.compile(r"(?<![\w/.:-])\+?\(?\d[\d\s().-]{6,}\d(?![\w/.:-])"), REDACTED),
]
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}


def scrub(text: str) -> str:
    """Remove email addresses, phone numbers and tokens from a string."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrub_value(key: str, value: Any) -> Any:
    if key not in ALLOWED_EXTRA_KEYS:
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


class PHIFilter(logging.Filter):
    """Rewrites each record so that no PHI or secret leaves the process."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the message and the extra fields in place."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string must not break logging
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                setattr(record, key, _scrub_value(key, value))
        if record.exc_info and record.exc_info[1] is not None:
            # Exception messages may quote input (an email, a token): keep only the type and location.
            exc_type = record.exc_info[0]
            record.exc_text = f"{exc_type.__name__ if exc_type else 'Exception'} (message withheld)"
            record.exc_info = None
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_text:
            payload["exc"] = record.exc_text
        return json.dumps(payload, default=str)


def make_handler(stream: Any = None) -> logging.Handler:
    """A stream handler with the PHI filter and the JSON formatter."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.addFilter(PHIFilter())
    handler.setFormatter(JSONFormatter())
    return handler


def configure_logging(level: str = "INFO") -> None:
    """Send every log record (ours, uvicorn's, libraries') through one filtered JSON handler."""
    root = logging.getLogger()
    root.handlers = [make_handler()]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # The app writes its own access line (without query strings); uvicorn's would repeat it.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False
    access.disabled = True
    for noisy in ("pymongo", "httpx", "httpcore", "openai", "googleapiclient", "twilio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
