"""Reading the patient's form fields: bounded before use, each problem a sentence tied to its field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from fastapi import Form

from core.errors import Unprocessable
from core.names import clean_person_name
from core.phone import PHONE_INPUT_PATTERN
from web.picker import parse_day

SEE_OTHER = 303  # every page form answers with a redirect to a GET (POST-redirect-GET)
FormText = Annotated[str, Form()]
MAX_NAME = 200
MAX_EMAIL = 254
MAX_PHONE = 40
MAX_TOKEN = 400  # the longest manage, unsubscribe or campaign token accepted in a URL or a hidden field
MAX_CHOICE = 200  # service and doctor names
_PHONE = re.compile(PHONE_INPUT_PATTERN)
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_\-.]+$")


def bounded(value: str | None, limit: int) -> str:
    """The value stripped and cut to `limit` characters (what is kept for redisplay)."""
    return (value or "").strip()[:limit]


def token_shape_ok(token: str | None) -> bool:
    """True when the text could be one of our signed tokens (checked before anything parses it)."""
    return token is not None and 0 < len(token) <= MAX_TOKEN and TOKEN_SHAPE.match(token) is not None


@dataclass
class SlotChoice:
    """The day and time picked in the picker."""

    day: date | None
    at: time | None
    errors: dict[str, str] = field(default_factory=dict)


def read_slot(day_text: str | None, time_text: str | None) -> SlotChoice:
    """The picked day and time, or errors under `time`."""
    day = parse_day(bounded(day_text, 10))
    raw_time = bounded(time_text, 5)
    at = time.fromisoformat(raw_time) if _HHMM.match(raw_time) else None
    errors = {} if day and at else {"time": "Please choose a time."}
    return SlotChoice(day, at, errors)


@dataclass
class Contact:
    """The patient's name, email and optional phone as typed (bounded), and what is wrong with them."""

    name: str
    email: str
    phone: str
    errors: dict[str, str] = field(default_factory=dict)


def read_contact(name: str | None, email: str | None, phone: str | None) -> Contact:
    """Check name, email and phone; the values are kept (cut to their caps) for redisplay."""
    raw_name, raw_email, raw_phone = (name or "").strip(), (email or "").strip(), (phone or "").strip()
    contact = Contact(bounded(raw_name, MAX_NAME), bounded(raw_email, MAX_EMAIL), bounded(raw_phone, MAX_PHONE))
    errors = contact.errors
    if not raw_name:
        errors["name"] = "Please enter your name."
    elif len(raw_name) > MAX_NAME:
        errors["name"] = f"Please enter at most {MAX_NAME} characters."
    else:
        try:
            contact.name = clean_person_name(raw_name)
        except ValueError as exc:
            errors["name"] = f"Your name {exc}."
    if not raw_email:
        errors["email"] = "Please enter your email address, so we can send you the confirmation."
    elif len(raw_email) > MAX_EMAIL:
        errors["email"] = f"Please enter at most {MAX_EMAIL} characters."
    else:
        try:
            contact.email = validate_email(raw_email, check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = "Please enter a valid email address, like name@example.com."
    if len(raw_phone) > MAX_PHONE:
        errors["phone"] = f"Please enter at most {MAX_PHONE} characters."
    elif raw_phone and not _PHONE.match(raw_phone):
        errors["phone"] = "Please enter a phone number with digits only, like +1 555 123 4567 (or leave it empty)."
    return contact


# Fields of the domain's 422s that the form shows next to an input; the others are shown above the form.
_FORM_FIELDS = {"name": "name", "email": "email", "phone": "phone"}


def domain_errors(exc: Unprocessable) -> tuple[dict[str, str], str | None]:
    """A domain 422 as (field errors, message for the top of the form)."""
    target = _FORM_FIELDS.get(exc.field or "")
    if target:
        return {target: sentence(exc.detail)}, None
    return {}, sentence(exc.detail)


def sentence(text: str) -> str:
    """The text with a capital first letter and a full stop."""
    text = text.strip()
    return (text[:1].upper() + text[1:]) if text.endswith(".") else (text[:1].upper() + text[1:] + ".")
