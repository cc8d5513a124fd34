"""Patient data as staff type or upload it: contact fields, consent columns and CSV reading, each problem a reason.

Reasons never contain the values (they may end up next to a line number in a log).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from core.names import clean_person_name
from core.phone import InvalidPhoneNumber, to_e164
from models.enums import Channel, ConsentStatus

CONTACT_FIELDS = ("name", "email", "phone", "timezone")
CONSENT_COLUMNS = {f"{channel.value}_consent": channel for channel in Channel}
MAX_FIELD = 254  # the longest email; no contact field may be longer
CSV_SOURCE = "csv_import"


class CsvFormatError(ValueError):
    """The file cannot be imported at all (no header, missing columns, not UTF-8)."""


class RowError(ValueError):
    """Why a row is rejected (never contains the row's values)."""


def check_contact(values: Mapping[str, str | None], *, region: str) -> tuple[dict[str, str | None], dict[str, str]]:
    """The given contact fields cleaned (email lower-cased, phone E.164 read in `region`) and a reason per bad field.

    Only the keys present are checked; an empty value means "none" (a name cannot be empty).
    """
    cleaned: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    given = {k: (v or "").strip() for k, v in values.items() if k in CONTACT_FIELDS}
    for key, value in given.items():
        if len(value) > MAX_FIELD:
            errors[key] = f"{key} must be at most {MAX_FIELD} characters"
    if "name" in given and "name" not in errors:
        if not given["name"]:
            errors["name"] = "name is empty"
        else:
            try:
                cleaned["name"] = clean_person_name(given["name"])
            except ValueError as exc:
                errors["name"] = f"name {exc}"
    if "email" in given and "email" not in errors:
        cleaned["email"] = None
        if given["email"]:
            try:
                cleaned["email"] = validate_email(given["email"], check_deliverability=False).normalized.lower()
            except EmailNotValidError:
                errors["email"] = "email is not a valid address"
    if "phone" in given and "phone" not in errors:
        cleaned["phone"] = None
        if given["phone"]:
            try:
                cleaned["phone"] = to_e164(given["phone"], region=region)
            except InvalidPhoneNumber:
                errors["phone"] = "phone is not a valid phone number (give the country code, e.g. +15551234567)"
    if "timezone" in given and "timezone" not in errors:
        cleaned["timezone"] = given["timezone"] or None
        if given["timezone"]:
            try:
                ZoneInfo(given["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                errors["timezone"] = "timezone is not an IANA name (e.g. Europe/Berlin)"
    return cleaned, errors


def contact_row(values: Mapping[str, str], *, region: str) -> dict[str, str | None]:
    """A CSV row's name, email, phone and timezone, cleaned; RowError with the first reason."""
    cleaned, errors = check_contact({k: values.get(k, "") for k in CONTACT_FIELDS}, region=region)
    if errors:
        raise RowError(next(iter(errors.values())))
    if not cleaned["email"] and not cleaned["phone"]:
        raise RowError("email and phone are both empty")
    return cleaned


def consent_status(text: str) -> ConsentStatus:
    """A consent value as written in a form or a CSV cell (granted, revoked, unknown); ValueError otherwise."""
    return ConsentStatus(text.strip().lower())


def consent_row(values: Mapping[str, str]) -> dict[Channel, ConsentStatus]:
    """The consent columns a row fills in (an empty cell changes nothing); RowError naming the bad column."""
    found: dict[Channel, ConsentStatus] = {}
    for column, channel in CONSENT_COLUMNS.items():
        text = (values.get(column) or "").strip()
        if not text:
            continue
        try:
            found[channel] = consent_status(text)
        except ValueError:
            raise RowError(f"{column} must be one of {', '.join(ConsentStatus)} (or empty)") from None
    return found


def read_csv(
    handle: IO[str], *, required: tuple[str, ...], optional: tuple[str, ...], max_rows: int | None = None
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header (lower-cased) and (line number, row) pairs of a CSV text; blank rows skipped.

    CsvFormatError when required columns are missing, the text is not UTF-8 or (with `max_rows`) it is too long.
    """
    try:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            expected = ",".join(required) + (f"[,{','.join(optional)}]" if optional else "")
            raise CsvFormatError(f"missing column(s): {', '.join(missing)}; expected {expected}")
        reader.fieldnames = header
        rows: list[tuple[int, dict[str, str]]] = []
        for raw in reader:
            values = {k: v or "" for k, v in raw.items() if k}
            if any(v.strip() for v in values.values()):
                if max_rows is not None and len(rows) == max_rows:
                    raise CsvFormatError(f"the file has more than {max_rows} rows; split it into smaller files")
                # line_num is the record's last physical line; quoted fields may span several
                rows.append((reader.line_num - sum(v.count("\n") for v in values.values()), values))
    except UnicodeDecodeError as exc:
        raise CsvFormatError("the file is not UTF-8 text") from exc
    except csv.Error as exc:
        raise CsvFormatError(f"the file is not readable as CSV ({exc})") from exc
    return header, rows


def decode_csv(data: bytes) -> io.StringIO:
    """Uploaded bytes as text (UTF-8, with or without a byte order mark); CsvFormatError otherwise."""
    try:
        return io.StringIO(data.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as exc:
        raise CsvFormatError("the file is not UTF-8 text") from exc


def rejected_csv(header: list[str], rejected: Iterable[tuple[int, str, Mapping[str, str]]]) -> str:
    """The rejected rows as CSV: line, reason, then the row's own columns."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "reason", *header])
    for line, reason, raw in rejected:
        writer.writerow([line, reason, *(raw.get(h, "") for h in header)])
    return out.getvalue()
