"""In-memory SmsPort for unit tests of domain code: records what was sent, fails on request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.sms.port import INVALID_NUMBER_CODE, OptedOutError, SmsError, SmsPort, is_e164


@dataclass(frozen=True)
class SentSms:
    """One recorded text message."""

    sid: str
    to: str
    body: str


@dataclass(frozen=True)
class PlacedCall:
    """One recorded call."""

    sid: str
    to: str
    message: str


class FakeSms(SmsPort):
    """SmsPort that keeps everything in lists; mimics Twilio's invalid-number and opted-out refusals."""

    def __init__(self) -> None:
        self.sent: list[SentSms] = []
        self.calls: list[PlacedCall] = []
        self.opted_out: set[str] = set()
        self._failures: list[SmsError] = []

    def fail_next(self, count: int = 1, error: SmsError | None = None) -> None:
        """Make the next `count` sends or calls raise `error` (a retryable SmsError by default)."""
        failure = error or SmsError("fake transient failure", retryable=True, status=503)
        self._failures.extend([failure] * count)

    def opt_out(self, number: str) -> None:
        """Make sends and calls to `number` raise OptedOutError, as Twilio does after STOP."""
        self.opted_out.add(number)

    def _check(self, to: str) -> None:
        if self._failures:
            raise self._failures.pop(0)
        if not is_e164(to):
            raise SmsError(f"the 'To' number {to} is not a valid phone number", code=INVALID_NUMBER_CODE, status=400)
        if to in self.opted_out:
            raise OptedOutError(status=400)

    async def send_sms(self, *, to: str, body: str) -> str:
        """Record a text message and return a fake SM… sid."""
        self._check(to)
        sid = "SM" + uuid.uuid4().hex
        self.sent.append(SentSms(sid=sid, to=to, body=body))
        return sid

    async def place_call(self, *, to: str, message: str) -> str:
        """Record a call and return a fake CA… sid."""
        self._check(to)
        sid = "CA" + uuid.uuid4().hex
        self.calls.append(PlacedCall(sid=sid, to=to, message=message))
        return sid

    async def aclose(self) -> None:
        """Nothing to release."""
