"""Booking stays responsive while logins are flooded: p99 of `GET /api/v1/availability` alone and during 50
concurrent failed logins with random emails, same run, one uvicorn worker; their ratio (goal <= 3x).

The per-address login limit is off here (an attacker with many addresses), so every flooded login reaches the
lockout counter and the bounded argon2 queue: what is measured is the cost of password checks on the loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.common import app_server, embedded_database, generate_load, print_table

CONCURRENCY = 8  # availability clients
FLOODERS = 50
DURATION_SECONDS = 5.0
RATIO_GOAL = 3.0
DB_NAME = "bench_login_flood"


class Flood:
    """FLOODERS clients posting wrong logins for random emails, back to back, from a process of their own.

    A separate process, so the flood's client work never shares the measuring clients' interpreter lock.
    """

    def __init__(self, base_url: str):
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._results: multiprocessing.Queue[dict[int, int]] = context.Queue()
        self._process = context.Process(
            target=_flood, args=(f"{base_url}/api/v1/auth/login", self._stop, self._results), daemon=True
        )
        self.codes: Counter[int] = Counter()

    def __enter__(self) -> Flood:
        self.started = time.perf_counter()
        self._process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.codes = Counter(self._results.get(timeout=120))
        self._process.join()
        self.duration = time.perf_counter() - self.started


def _flood(url: str, stop: Any, results: Any) -> None:
    codes: Counter[int] = Counter()

    async def flooder(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            form = {"username": f"{uuid.uuid4().hex[:12]}@flood.test", "password": "not the password"}
            try:
                response = await client.post(url, data=form)
            except httpx.HTTPError:
                codes[0] += 1
                continue
            codes[response.status_code] += 1

    async def run() -> None:
        limits = httpx.Limits(max_connections=FLOODERS, max_keepalive_connections=FLOODERS)
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
            await asyncio.gather(*(flooder(client) for _ in range(FLOODERS)))

    asyncio.run(run())
    results.put(dict(codes))


def main() -> None:
    """Measure availability alone, then under the login flood, and print both with their ratio."""
    today = datetime.now(UTC).date()
    month, year = (today.month % 12) + 1, today.year + (today.month == 12)
    env = {"LOGIN_RATE_LIMIT_PER_IP": "0"}
    with embedded_database() as mongo_uri, app_server(mongo_uri, DB_NAME, extra_env=env) as app:
        url = f"{app.url}/api/v1/availability?month={month}&year={year}"
        print(
            f"{CONCURRENCY} availability clients, {DURATION_SECONDS:.0f} s per phase, one uvicorn worker; "
            f"flood: {FLOODERS} concurrent wrong logins with random emails"
        )
        alone = generate_load(url, concurrency=CONCURRENCY, duration=DURATION_SECONDS)
        with Flood(app.url) as flood:
            time.sleep(0.5)  # the flood is at full strength before measuring
            flooded = generate_load(url, concurrency=CONCURRENCY, duration=DURATION_SECONDS, warmup=0)
    print_table(
        ["GET /api/v1/availability", "req/s", "p50 ms", "p99 ms", "errors"],
        [alone.row("alone"), flooded.row("during the login flood")],
    )
    answered = sum(n for code, n in flood.codes.items() if code)
    codes = ", ".join(f"{code or 'transport error'}: {n}" for code, n in sorted(flood.codes.items()))
    print(f"logins answered: {answered} in {flood.duration:.1f} s ({answered / flood.duration:.0f}/s; {codes})")
    ratio = flooded.percentile_ms(0.99) / alone.percentile_ms(0.99)
    verdict = "ok" if ratio <= RATIO_GOAL else "ABOVE GOAL"
    print(f"p99 ratio flooded/alone: {ratio:.2f}x (goal <= {RATIO_GOAL:.0f}x: {verdict})")
