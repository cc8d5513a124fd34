"""Person names as patients type them: no links, line breaks or control characters.

A name is printed into emails ("Dear <name>,"), so a name that is a web address or spans lines would let a
stranger put their own text and links into a message the clinic sends to someone else.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_NAME_LENGTH = 200
# A scheme ("https://"), "www.", an address ("a@b"), or a dotted host name ("evil.example", "bit.ly/x").
_LINK = re.compile(r"://|\bwww\.|@|[^\W_][\w-]*\.[^\W\d_]{2,}", re.IGNORECASE)
# Bidirectional overrides and isolates reorder text on screen (used to disguise links and names).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_person_name(value: str) -> str:
    """The name stripped of surrounding spaces; ValueError when blank, a link, or with line breaks/controls."""
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS for ch in value):
        raise ValueError("must be one line without control characters")
    if _LINK.search(value):
        raise ValueError("must not contain a web or email address (write initials with a space: 'St. John')")
    return value


# The request-body type of every person name the API accepts.
PersonName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME_LENGTH, description="one line; no links, line breaks or control chars"),
    AfterValidator(clean_person_name),
]
