"""The SMS/voice port in domain terms: send a text, place a call, and the errors callers act on."""

from __future__ import annotations

import re
from typing import Protocol

OPTED_OUT_CODE = 21610
INVALID_NUMBER_CODE = 21211

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def is_e164(number: str) -> bool:
    """True when `number` is an E.164 phone number: '+', a non-zero digit, at most 15 digits in all."""
    return isinstance(number, str) and _E164.fullmatch(number) is not None


class SmsError(Exception):
    """A send or call failed; `retryable` says whether trying again later may succeed."""

    def __init__(
        self, message: str, *, retryable: bool = False, code: int | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.status = status


class OptedOutError(SmsError):
    """The recipient has opted out (replied STOP); never retry, record the opt-out instead."""

    def __init__(
        self, message: str = "recipient has opted out", *, code: int | None = OPTED_OUT_CODE, status: int | None = None
    ) -> None:
        super().__init__(message, retryable=False, code=code, status=status)


class SmsPort(Protocol):
    """Text messages and automated voice calls to patients."""

    async def send_sms(self, *, to: str, body: str) -> str:
        """Send a text message; returns the provider's message id."""
        ...

    async def place_call(self, *, to: str, message: str) -> str:
        """Place a call that reads `message` aloud; returns the provider's call id."""
        ...
