"""TTL cache: shared loads, expiry, invalidation, errors (time and loads driven by the test)."""

from __future__ import annotations

import asyncio

from core.cache import TTLCache


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_misses_share_one_load() -> None:
    cache: TTLCache[int] = TTLCache(60)
    gate = asyncio.Event()
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    waiting = [asyncio.create_task(cache.get("k", load)) for _ in range(20)]
    await settle()
    assert calls == 1 and not any(t.done() for t in waiting)  # all 20 are inside one load
    gate.set()
    assert await asyncio.gather(*waiting) == [42] * 20 and calls == 1
    assert await cache.get("k", load) == 42 and calls == 1


async def test_invalidate_and_expiry_force_a_reload() -> None:
    ticker = Ticker()
    cache: TTLCache[int] = TTLCache(30, monotonic=ticker)
    values = iter(range(10))

    async def load() -> int:
        return next(values)

    assert await cache.get("k", load) == 0
    cache.invalidate()
    assert await cache.get("k", load) == 1
    ticker.now += 29.9
    assert await cache.get("k", load) == 1  # still inside the ttl
    ticker.now += 0.1
    assert await cache.get("k", load) == 2  # 30 s old: expired


async def test_value_loaded_during_an_invalidation_is_not_kept() -> None:
    cache: TTLCache[int] = TTLCache(60)
    gate = asyncio.Event()
    values = iter(range(10))

    async def held() -> int:
        value = next(values)
        await gate.wait()
        return value

    first = asyncio.create_task(cache.get("k", held))
    await settle()
    cache.invalidate()  # a write while the load may already have read the old data
    gate.set()
    assert await first == 0
    assert await cache.get("k", held) == 1


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    cache: TTLCache[int] = TTLCache(60)
    gate = asyncio.Event()
    calls = 0

    async def boom() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise RuntimeError("db down")

    waiting = [asyncio.create_task(cache.get("k", boom)) for _ in range(3)]
    await settle()
    gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and calls == 1

    async def ok() -> int:
        return 7

    assert await cache.get("k", ok) == 7


async def test_zero_ttl_never_caches() -> None:
    cache: TTLCache[int] = TTLCache(0)
    values = iter(range(10))

    async def load() -> int:
        return next(values)

    assert [await cache.get("k", load) for _ in range(3)] == [0, 1, 2]
