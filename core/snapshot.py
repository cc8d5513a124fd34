"""An in-process snapshot of an expensive value: single-flight recomputation, refreshed in the background.

Rules, with `max_age` the oldest a served value may be:
- no value yet (or the value is older than `max_age`): the caller waits for a computation; concurrent callers
  share that one computation (single-flight), so N requests never start N scans;
- a value younger than `max_age` is served at once; once it is old enough that a new computation must start to
  be ready in time (age >= max_age - max(2 x the last computation's duration, max_age / 10)), or when a write
  marked it stale, one background recomputation starts while the current value keeps being served;
- while requests keep coming (within `keep_fresh` seconds of the last one) a keeper task starts that
  recomputation on time, so a dashboard polled at any interval never waits for a scan; when requests stop, so
  does it.

The age is measured from the moment the computation started, i.e. how old the data may be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("medcampaign.snapshot")

RETRY_AFTER_FAILURE_SECONDS = 1.0


class Snapshot(Generic[T]):
    """Holds one computed value and recomputes it single-flight."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep  # the keeper's waits, on the same clock as `monotonic`
        self._value: T | None = None
        self._born = 0.0
        self._stale = False
        self._inflight: asyncio.Task[T] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._last_request = 0.0
        self._duration = 0.0
        self._max_age = 0.0
        self.computations = 0

    @property
    def age(self) -> float | None:
        """Seconds since the current value's computation started (None when there is none)."""
        return None if self._value is None else self._monotonic() - self._born

    def refresh_age(self, max_age: float) -> float:
        """The age at which a recomputation starts, so it is ready before the value reaches max_age."""
        return max(0.0, max_age - max(2 * self._duration, max_age / 10))

    def mark_stale(self) -> None:
        """A write changed the underlying data: recompute in the background at the next request."""
        self._stale = True

    async def get(self, compute: Callable[[], Awaitable[T]], *, max_age: float, keep_fresh: float = 0.0) -> T:
        """The value, never older than `max_age` seconds; only a cold (or expired) snapshot makes the caller wait."""
        now = self._monotonic()
        self._last_request, self._max_age = now, max_age
        value = self._value
        if value is not None and now - self._born < max_age:
            if self._stale or now - self._born >= self.refresh_age(max_age):
                self._refresh(compute)
            self._keep(compute, max_age=max_age, keep_fresh=keep_fresh)
            return value
        # shield: a caller that goes away does not cancel the computation the others are waiting for
        result = await asyncio.shield(self._refresh(compute))
        self._keep(compute, max_age=max_age, keep_fresh=keep_fresh)
        return result

    def _refresh(self, compute: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        """The running computation, or a new one."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._compute(compute))
            self._inflight.add_done_callback(_log_failure)
        return self._inflight

    async def _compute(self, compute: Callable[[], Awaitable[T]]) -> T:
        born = self._monotonic()
        self._stale = False  # a write during the computation marks it stale again
        self.computations += 1
        value = await compute()
        self._value, self._born, self._duration = value, born, self._monotonic() - born
        if self._max_age and self._duration > self._max_age / 3:
            log.warning(
                "snapshot computation is slow for its maximum age: the database is kept busy refreshing it",
                extra={"seconds": round(self._duration, 3), "max_age_seconds": self._max_age},
            )
        return value

    def _keep(self, compute: Callable[[], Awaitable[T]], *, max_age: float, keep_fresh: float) -> None:
        if keep_fresh > 0 and (self._keeper is None or self._keeper.done()):
            self._keeper = asyncio.create_task(self._keep_fresh(compute, max_age=max_age, keep_fresh=keep_fresh))

    async def _keep_fresh(self, compute: Callable[[], Awaitable[T]], *, max_age: float, keep_fresh: float) -> None:
        """Recompute on time while someone asked within the last `keep_fresh` seconds."""
        while self._monotonic() - self._last_request < keep_fresh:
            await self._sleep(max(0.0, self._born + self.refresh_age(max_age) - self._monotonic()))
            if self._monotonic() - self._last_request >= keep_fresh:
                return
            if self._value is None or self._monotonic() - self._born >= self.refresh_age(max_age) or self._stale:
                try:
                    await asyncio.shield(self._refresh(compute))
                except Exception:  # logged by the task's callback; try again a little later
                    await self._sleep(RETRY_AFTER_FAILURE_SECONDS)

    async def idle(self) -> None:
        """Return once the computation in flight (if any) has finished, without raising its error."""
        task = self._inflight
        if task is not None and not task.done():
            await asyncio.wait([task])

    async def aclose(self) -> None:
        """Stop the keeper and any computation in flight."""
        for task in (self._keeper, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._keeper = self._inflight = None


def _log_failure(task: asyncio.Task[T]) -> None:
    """Retrieve a failed computation's exception so it is logged once, not reported as never retrieved."""
    if not task.cancelled() and task.exception() is not None:
        log.error("snapshot computation failed", extra={"error_type": type(task.exception()).__name__})
