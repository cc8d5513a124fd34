"""Phone numbers: every number the service stores is E.164, parsed with `phonenumbers` (Google's libphonenumber).

National input ("(555) 123-4567") is read in the clinic's default region (PHONE_DEFAULT_REGION), so the number
a patient typed on the booking page and the one Twilio reports on an inbound STOP are the same string.
"""

from __future__ import annotations

from typing import Annotated

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult
from pydantic import Field

from core.errors import Unprocessable

# Accepted on input: digits and the usual separators; letters ("1-800-FLOWERS") and extensions are not.
PHONE_INPUT_PATTERN = r"^\+?[0-9()./\- ]{2,32}$"
PHONE_INPUT_DESCRIPTION = "E.164 (+15551234567) or a national number of PHONE_DEFAULT_REGION; stored as E.164"
# The request-body type of every phone number the API accepts (normalised by `phone_field` in the domain).
PhoneInput = Annotated[str, Field(pattern=PHONE_INPUT_PATTERN, description=PHONE_INPUT_DESCRIPTION)]


class InvalidPhoneNumber(ValueError):
    """The text is not a possible phone number."""


def to_e164(raw: str, *, region: str) -> str:
    """The number in E.164 form ("+15551234567"); national numbers are read in `region` (ISO 3166 alpha-2)."""
    try:
        number = phonenumbers.parse(raw, region.upper())
    except NumberParseException as exc:
        raise InvalidPhoneNumber("not a phone number") from exc
    # "Possible" (a right length for the country), not "valid": strict validity refuses reserved test ranges
    # such as 555 and newly assigned blocks until the metadata catches up.
    if number.extension or phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        raise InvalidPhoneNumber("not a complete phone number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def phone_field(raw: str | None, *, region: str, field: str = "phone") -> str | None:
    """`raw` as E.164 (None stays None), or 422 `invalid_phone` naming the field."""
    if raw is None or not raw.strip():
        return None
    try:
        return to_e164(raw, region=region)
    except InvalidPhoneNumber:
        raise Unprocessable(
            f"{field} is not a valid phone number; give it with the country code, e.g. +15551234567",
            error="invalid_phone",
            field=field,
        ) from None


def is_region(code: str) -> bool:
    """True when `code` is a region `phonenumbers` knows (e.g. US, DE, GB)."""
    return code.upper() in phonenumbers.SUPPORTED_REGIONS
