"""The console's dashboard page against the JSON it shows, at 100,000 campaigns.

The dataset of `bench dashboard` (bench_dashboard.generate: N campaigns, 10 interactions each, their appointments)
goes into the embedded SecantusDB; the app runs under uvicorn in a subprocess (one worker, TZ Europe/Berlin, the
default 30 s snapshot). A console session is signed in through the real sign-in form and a JWT through the API's
login; after one priming request each (the cold snapshot), 20 concurrent clients GET, in turn, GET /console (the
HTML page: KPIs, rates, three pygal charts), GET /api/v1/admin/dashboard-stats (the same snapshot as JSON) and GET
/ (a bare endpoint), in ROUNDS rounds of ROUND_SECONDS each, so a background refresh of the snapshot falls on every
endpoint alike. Goal: console p50 <= 2x the JSON's p50.

`BENCH_CONSOLE_CAMPAIGNS=100000` (default) chooses the size.
"""

from __future__ import annotations

import os
import time

import httpx

from bench.bench_dashboard import EMAIL, PASSWORD, TZ, generate
from bench.common import (
    LoadResult,
    api_login,
    app_server,
    console_login,
    embedded_database,
    generate_load,
    print_table,
)

CONCURRENCY = 20
ROUNDS = 2
ROUND_SECONDS = 8.0
RATIO_GOAL = 2.0
DB_NAME = "bench_console"
PRIME_TIMEOUT_SECONDS = 300.0


def _merge(results: list[LoadResult]) -> LoadResult:
    merged = LoadResult(duration=sum(r.duration for r in results))
    for result in results:
        merged.latencies += result.latencies
        merged.errors += result.errors
    return merged


def _prime(url: str, headers: dict[str, str], kind: str) -> float:
    started = time.perf_counter()
    response = httpx.get(url, headers=headers, timeout=PRIME_TIMEOUT_SECONDS)
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith(kind):
        raise RuntimeError(f"GET {url} answered {response.status_code} {response.headers.get('content-type')}")
    return time.perf_counter() - started


def _row(name: str, result: LoadResult) -> list[object]:
    return [
        name,
        f"{result.requests_per_second:.0f}",
        f"{result.percentile_ms(0.50):.1f}",
        f"{result.percentile_ms(0.95):.1f}",
        f"{result.percentile_ms(0.99):.1f}",
        result.errors,
    ]


def main() -> None:
    """Seed, serve one worker, load the three endpoints in rounds, print the figures and ratios."""
    n = int(os.environ.get("BENCH_CONSOLE_CAMPAIGNS", "100000"))
    with embedded_database() as mongo_uri:
        timings = generate(mongo_uri, DB_NAME, n)
        print(
            f"{n:,} campaigns ({int(timings['documents']):,} documents) generated in"
            f" {timings['build documents'] + timings['insert_many'] + timings['create indexes']:.1f} s"
        )
        with app_server(mongo_uri, DB_NAME, extra_env={"TZ": TZ}) as app:
            endpoints = {
                "GET /console (HTML)": (app.url + "/console", console_login(app.url, EMAIL, PASSWORD), "text/html"),
                "GET /api/v1/admin/dashboard-stats (JSON)": (
                    app.url + "/api/v1/admin/dashboard-stats",
                    api_login(app.url, EMAIL, PASSWORD),
                    "application/json",
                ),
                "GET / (bare)": (app.url + "/", {}, "application/json"),
            }
            for name, (url, headers, kind) in endpoints.items():
                print(f"priming {name}: {_prime(url, headers, kind) * 1000:.0f} ms")
            runs: dict[str, list[LoadResult]] = {name: [] for name in endpoints}
            for _ in range(ROUNDS):
                for name, (url, headers, _kind) in endpoints.items():
                    runs[name].append(
                        generate_load(url, concurrency=CONCURRENCY, duration=ROUND_SECONDS, headers=headers)
                    )
    results = {name: _merge(parts) for name, parts in runs.items()}
    print(
        f"\n{CONCURRENCY} concurrent clients, {ROUNDS} rounds of {ROUND_SECONDS:.0f} s per endpoint (taken in turn),"
        " one uvicorn worker, embedded SecantusDB"
    )
    print_table(
        ["endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        [_row(name, result) for name, result in results.items()],
    )
    console, json, bare = results.values()
    for fraction, label in ((0.5, "p50"), (0.95, "p95")):
        ratio = console.percentile_ms(fraction) / json.percentile_ms(fraction)
        print(
            f"{label}: console/JSON {ratio:.2f}x (goal <= {RATIO_GOAL:.0f}x:"
            f" {'met' if ratio <= RATIO_GOAL else 'NOT met'}); console/bare"
            f" {console.percentile_ms(fraction) / bare.percentile_ms(fraction):.1f}x;"
            f" JSON/bare {json.percentile_ms(fraction) / bare.percentile_ms(fraction):.1f}x"
        )
