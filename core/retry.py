"""One retry rule for sends to outside systems: a passing failure (`retryable`) is tried again after each delay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class Retry:
    """Calls a send until it succeeds, fails for good, or the delays run out; `tries` counts the calls made."""

    def __init__(self, *, delays: Sequence[float], retry_on: tuple[type[Exception], ...]) -> None:
        self.delays = tuple(delays)  # seconds before each retry: len(delays) + 1 tries in all
        self.retry_on = retry_on
        self.tries = 0

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """The call's result; the last error is raised when it is not retryable or no delay is left."""
        self.tries = 0
        while True:
            self.tries += 1
            try:
                return await call()
            except self.retry_on as exc:
                if not getattr(exc, "retryable", False) or self.tries > len(self.delays):
                    raise
            await asyncio.sleep(self.delays[self.tries - 1])
