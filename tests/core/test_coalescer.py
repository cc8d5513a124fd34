"""Overlapping sync requests fold into one more pass instead of running side by side."""

from __future__ import annotations

import asyncio

import pytest

from core.tasks import Coalescer


async def test_calls_during_a_run_cause_exactly_one_more_pass() -> None:
    coalescer = Coalescer()
    passes = 0
    running = 0
    most = 0

    async def job() -> None:
        nonlocal passes, running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        passes += 1
        running -= 1

    await asyncio.gather(*(coalescer.run(job) for _ in range(10)))
    assert most == 1 and passes == 2
    await coalescer.run(job)
    assert passes == 3


async def test_a_failing_pass_releases_the_coalescer() -> None:
    coalescer = Coalescer()

    async def boom() -> None:
        raise RuntimeError("gmail down")

    with pytest.raises(RuntimeError):
        await coalescer.run(boom)
    ran = []

    async def ok() -> None:
        ran.append(1)

    await coalescer.run(ok)
    assert ran == [1]
