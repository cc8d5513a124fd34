"""The dashboard snapshot: single-flight, never older than max_age, background refresh, stale marking."""

from __future__ import annotations

import asyncio

import pytest

from core.snapshot import Snapshot


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ManualTime(Ticker):
    """A monotonic clock plus a sleep that only ends when the test moves the clock past its wake-up time."""

    def __init__(self) -> None:
        super().__init__()
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + seconds, woken))
        await woken

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for wake, woken in list(self.sleepers):
            if wake <= self.now:
                self.sleepers.remove((wake, woken))
                if not woken.done():
                    woken.set_result(None)
        await settle()


class Source:
    """A computation that counts its runs and can be held open."""

    def __init__(self) -> None:
        self.runs = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def __call__(self) -> int:
        self.runs += 1
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("database down")
        return self.runs


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_cold_concurrent_callers_share_one_computation() -> None:
    snapshot: Snapshot[int] = Snapshot(monotonic=Ticker())
    source = Source()
    source.gate.clear()
    waiting = [asyncio.create_task(snapshot.get(source, max_age=30)) for _ in range(50)]
    await settle()
    assert source.runs == 1 and not any(t.done() for t in waiting)
    source.gate.set()
    assert await asyncio.gather(*waiting) == [1] * 50
    assert snapshot.computations == 1


async def test_fresh_is_served_then_refreshed_behind_in_time_and_expired_waits() -> None:
    ticker = Ticker()
    snapshot: Snapshot[int] = Snapshot(monotonic=ticker)
    source = Source()
    assert await snapshot.get(source, max_age=30) == 1
    assert snapshot.refresh_age(30) == 27  # an instant computation: start again 3 s (max_age / 10) before expiry
    ticker.now += 20
    assert await snapshot.get(source, max_age=30) == 1 and source.runs == 1
    ticker.now += 8  # 28 s old: still served, one refresh starts behind it
    source.gate.clear()
    assert await snapshot.get(source, max_age=30) == 1
    assert await snapshot.get(source, max_age=30) == 1
    await settle()
    assert source.runs == 2
    source.gate.set()
    await settle()
    assert await snapshot.get(source, max_age=30) == 2 and snapshot.age == pytest.approx(0)
    ticker.now += 31  # too old to serve: the caller waits for a new value
    assert await snapshot.get(source, max_age=30) == 3


async def test_a_slow_computation_starts_earlier() -> None:
    ticker = Ticker()
    snapshot: Snapshot[int] = Snapshot(monotonic=ticker)

    async def slow() -> int:
        ticker.now += 6
        return 1

    await snapshot.get(slow, max_age=30)
    assert snapshot.refresh_age(30) == 18  # 2 x 6 s before the value would be too old
    assert snapshot.age == 6


async def test_mark_stale_refreshes_in_the_background() -> None:
    snapshot: Snapshot[int] = Snapshot(monotonic=Ticker())
    source = Source()
    await snapshot.get(source, max_age=30)
    snapshot.mark_stale()
    assert await snapshot.get(source, max_age=30) == 1  # served at once
    await settle()
    assert await snapshot.get(source, max_age=30) == 2 and source.runs == 2


async def test_a_write_during_the_computation_keeps_it_stale() -> None:
    snapshot: Snapshot[int] = Snapshot(monotonic=Ticker())
    source = Source()
    source.gate.clear()
    first = asyncio.create_task(snapshot.get(source, max_age=30))
    await settle()
    snapshot.mark_stale()  # the running computation may have read before this write
    source.gate.set()
    assert await first == 1
    await snapshot.get(source, max_age=30)
    await settle()
    assert source.runs == 2


async def test_failure_reaches_the_waiting_callers_and_the_next_call_retries() -> None:
    snapshot: Snapshot[int] = Snapshot(monotonic=Ticker())
    source = Source()
    source.fail = True
    results = await asyncio.gather(*(snapshot.get(source, max_age=30) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and source.runs == 1
    source.fail = False
    assert await snapshot.get(source, max_age=30) == 2


async def test_keeper_refreshes_while_requests_keep_coming_and_stops_after() -> None:
    time = ManualTime()
    snapshot: Snapshot[int] = Snapshot(monotonic=time, sleep=time.sleep)
    source = Source()
    assert await snapshot.get(source, max_age=30, keep_fresh=60) == 1
    await settle()
    await time.advance(26.9)
    assert source.runs == 1  # not yet: the refresh starts at 27 s (3 s before the value is too old)
    await time.advance(0.1)
    assert source.runs == 2  # refreshed behind the scenes, without a request
    assert await snapshot.get(source, max_age=30) == 2 and snapshot.age == 0  # the last request: at 27 s
    await time.advance(27)
    await time.advance(27)
    assert source.runs == 4  # 27 s and 54 s after the last request: still within keep_fresh
    await time.advance(27)
    await time.advance(600)
    assert source.runs == 4 and time.sleepers == []  # 81 s without a request: no more scans, the keeper ended
    await snapshot.aclose()


async def test_keeper_retries_a_failed_refresh_a_second_later_and_keeps_serving_the_old_value() -> None:
    time = ManualTime()
    snapshot: Snapshot[int] = Snapshot(monotonic=time, sleep=time.sleep)
    source = Source()
    await snapshot.get(source, max_age=30, keep_fresh=60)
    await settle()
    source.fail = True
    await time.advance(27)
    assert source.runs == 2  # the refresh failed; no retry before RETRY_AFTER_FAILURE_SECONDS
    await time.advance(0.9)
    assert source.runs == 2 and snapshot.age == pytest.approx(27.9)  # the old value is kept
    source.fail = False
    await time.advance(0.1)
    assert source.runs == 3 and snapshot.age == 0  # the keeper's retry, not a request
    assert await snapshot.get(source, max_age=30) == 3 and source.runs == 3
    await snapshot.aclose()


async def test_aclose_cancels_work_in_flight() -> None:
    snapshot: Snapshot[int] = Snapshot()
    source = Source()
    source.gate.clear()
    waiter = asyncio.create_task(snapshot.get(source, max_age=30, keep_fresh=60))
    await settle()
    await snapshot.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_idle_waits_for_the_computation_in_flight_and_not_for_its_error() -> None:
    snapshot: Snapshot[int] = Snapshot(monotonic=Ticker())
    source = Source()
    await snapshot.idle()  # nothing in flight
    source.gate.clear()
    source.fail = True
    caller = asyncio.create_task(snapshot.get(source, max_age=30))
    waiter = asyncio.create_task(snapshot.idle())
    await settle()
    assert not waiter.done()
    source.gate.set()
    await waiter  # the failure goes to the caller, not to idle()
    with pytest.raises(RuntimeError):
        await caller
