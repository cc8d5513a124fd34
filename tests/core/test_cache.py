"""TTL cache: shared loads, expiry, invalidation, errors."""

from __future__ import annotations

import asyncio

from core.cache import TTLCache


async def test_concurrent_misses_share_one_load() -> None:
    cache: TTLCache[int] = TTLCache(60)
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 42

    results = await asyncio.gather(*(cache.get("k", load) for _ in range(20)))
    assert results == [42] * 20 and calls == 1
    assert await cache.get("k", load) == 42 and calls == 1


async def test_invalidate_and_expiry_force_a_reload() -> None:
    cache: TTLCache[int] = TTLCache(0.05)
    values = iter(range(10))

    async def load() -> int:
        return next(values)

    assert await cache.get("k", load) == 0
    cache.invalidate()
    assert await cache.get("k", load) == 1
    await asyncio.sleep(0.06)
    assert await cache.get("k", load) == 2


async def test_value_loaded_during_an_invalidation_is_not_kept() -> None:
    cache: TTLCache[int] = TTLCache(60)
    values = iter(range(10))

    async def slow() -> int:
        await asyncio.sleep(0.02)
        return next(values)

    first = asyncio.create_task(cache.get("k", slow))
    await asyncio.sleep(0.005)
    cache.invalidate()
    assert await first == 0
    assert await cache.get("k", slow) == 1


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    cache: TTLCache[int] = TTLCache(60)

    async def boom() -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("db down")

    results = await asyncio.gather(*(cache.get("k", boom) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def ok() -> int:
        return 7

    assert await cache.get("k", ok) == 7


async def test_zero_ttl_never_caches() -> None:
    cache: TTLCache[int] = TTLCache(0)
    values = iter(range(10))

    async def load() -> int:
        return next(values)

    assert [await cache.get("k", load) for _ in range(3)] == [0, 1, 2]
