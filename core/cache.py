"""A small in-process TTL cache with single-flight loading (concurrent misses share one load)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """Values expire after `ttl` seconds; a key is loaded by at most one coroutine at a time."""

    def __init__(self, ttl: float, *, max_entries: int = 1024, monotonic: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._monotonic = monotonic
        self.max_entries = max_entries
        self._values: dict[Hashable, tuple[float, V]] = {}
        self._loading: dict[Hashable, asyncio.Future[V]] = {}
        self._generation = 0

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, or the result of one shared `load()`."""
        if self.ttl <= 0:
            return await load()
        hit = self._values.get(key)
        if hit is not None and hit[0] > self._monotonic():
            return hit[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        generation = self._generation
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            self._loading.pop(key, None)
        if generation == self._generation:  # an invalidation during the load makes this value stale
            if len(self._values) >= self.max_entries:
                self._values.clear()
            self._values[key] = (self._monotonic() + self.ttl, value)
        future.set_result(value)
        return value

    def invalidate(self) -> None:
        """Forget everything (after a local write)."""
        self._generation += 1
        self._values.clear()
