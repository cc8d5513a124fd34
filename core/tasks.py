"""Concurrency helpers: one job at a time with coalesced re-runs, and fire-and-forget tasks kept referenced."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


class Coalescer:
    """Runs one job at a time; calls that arrive meanwhile make the running job go once more, then return."""

    def __init__(self) -> None:
        self._running = False
        self._again = False

    async def run(self, job: Callable[[], Awaitable[Any]]) -> None:
        """Run `job`, or have the run in progress repeat it."""
        if self._running:
            self._again = True
            return
        self._running = True
        try:
            while True:
                self._again = False
                await job()
                if not self._again:
                    return
        finally:
            self._running = False


async def background(coro: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]) -> None:
    """Run a coroutine after the response, keeping a reference so it is not collected."""
    task = asyncio.create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
