"""The retry helper: passing failures retried after each delay, lasting ones raised at once."""

from __future__ import annotations

import pytest

from core.retry import Retry
from services.email.port import EmailError


class Flaky:
    """Fails with the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_a_passing_failure_is_retried_until_it_succeeds() -> None:
    call = Flaky(EmailError("busy", retryable=True), EmailError("busy", retryable=True))
    retry = Retry(delays=(0, 0), retry_on=(EmailError,))
    assert await retry.run(call) == "ok"
    assert call.calls == retry.tries == 3


async def test_the_last_failure_is_raised_when_the_delays_run_out() -> None:
    call = Flaky(*(EmailError("busy", retryable=True) for _ in range(3)))
    retry = Retry(delays=(0, 0), retry_on=(EmailError,))
    with pytest.raises(EmailError):
        await retry.run(call)
    assert call.calls == retry.tries == 3


async def test_a_lasting_failure_is_not_retried() -> None:
    call = Flaky(EmailError("rejected", retryable=False))
    retry = Retry(delays=(0, 0), retry_on=(EmailError,))
    with pytest.raises(EmailError):
        await retry.run(call)
    assert retry.tries == 1


async def test_other_errors_pass_through() -> None:
    call = Flaky(ValueError("bug"))
    with pytest.raises(ValueError):
        await Retry(delays=(0,), retry_on=(EmailError,)).run(call)
    assert call.calls == 1
