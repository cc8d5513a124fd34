"""Benchmark helpers: an embedded database, the app under real uvicorn in a subprocess, load and tables."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from db.embedded import EmbeddedMongo, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_JWT_SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"  # noqa: S105 - bench only
START_TIMEOUT_SECONDS = 60.0
LOGIN_TIMEOUT_SECONDS = 30.0
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
STOP_TIMEOUT_SECONDS = 20.0


@contextmanager
def embedded_database() -> Iterator[str]:
    """Start SecantusDB with its data in a temporary directory; yields its URI, always stops it."""
    with tempfile.TemporaryDirectory(prefix="medcampaign-bench-db-") as tmp:
        server = EmbeddedMongo(Path(tmp) / "data", log_path=Path(tmp) / "server.log")
        server.start()
        try:
            yield server.uri
        finally:
            server.stop()


@dataclass
class AppProcess:
    """A running `uvicorn main:create_app --factory` child process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def app_server(
    mongo_uri: str, db_name: str, *, extra_env: Mapping[str, str] | None = None, workers: int = 1
) -> Iterator[AppProcess]:
    """Serve the app with `workers` uvicorn worker processes on a free loopback port; always stops it."""
    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "MONGO_URI": mongo_uri,
        "MONGO_DB_NAME": db_name,
        "JWT_SECRET_KEY": BENCH_JWT_SECRET,
        "LOG_LEVEL": "WARNING",
        "WORKER_ENABLED": "false",
        # Mail is dropped in memory, as before the development outbox: benchmarks measure the app, not the outbox.
        "EMAIL_BACKEND": "disabled",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    with tempfile.TemporaryDirectory(prefix="medcampaign-bench-app-") as tmp:
        log_path = Path(tmp) / "app.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        app = AppProcess(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
        try:
            _wait_until_serving(app)
            yield app
        finally:
            _stop(process)


def _wait_until_serving(app: AppProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            raise RuntimeError(f"the app exited with code {app.process.returncode}:\n{_tail(app.log_path)}")
        try:
            if httpx.get(app.url + "/", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    waited = f"{START_TIMEOUT_SECONDS:.0f}s"
    raise RuntimeError(f"the app did not answer GET / within {waited}:\n{_tail(app.log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class LoadResult:
    """What one load run measured."""

    duration: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def requests(self) -> int:
        """Requests answered successfully (2xx/3xx)."""
        return len(self.latencies)

    @property
    def requests_per_second(self) -> float:
        """Successful requests per second of wall time."""
        return self.requests / self.duration if self.duration > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """Latency in milliseconds at a fraction in [0, 1] (nearest rank over successful requests)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[index] * 1000

    def row(self, name: str) -> list[object]:
        """A table row: name, req/s, p50 ms, p99 ms, errors."""
        return [
            name,
            f"{self.requests_per_second:.0f}",
            f"{self.percentile_ms(0.50):.1f}",
            f"{self.percentile_ms(0.99):.1f}",
            self.errors,
        ]


async def _worker(url: str, headers: Mapping[str, str], deadline: float, result: LoadResult) -> None:
    async with httpx.AsyncClient(headers=dict(headers), timeout=10.0) as client:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await client.get(url)
            except httpx.HTTPError:
                result.errors += 1
                continue
            if response.status_code >= 400:
                result.errors += 1
            else:
                result.latencies.append(time.perf_counter() - started)


async def _load(url: str, *, concurrency: int, duration: float, headers: Mapping[str, str]) -> LoadResult:
    started = time.perf_counter()
    result = LoadResult(duration=duration)
    deadline = started + duration
    await asyncio.gather(*(_worker(url, headers, deadline, result) for _ in range(concurrency)))
    result.duration = time.perf_counter() - started
    return result


def generate_load(
    url: str,
    *,
    concurrency: int = 16,
    duration: float = 5.0,
    headers: Mapping[str, str] | None = None,
    warmup: float = 0.5,
) -> LoadResult:
    """GET `url` from `concurrency` clients for `duration` seconds (after an unmeasured warm-up)."""
    if warmup > 0:
        asyncio.run(_load(url, concurrency=concurrency, duration=warmup, headers=headers or {}))
    return asyncio.run(_load(url, concurrency=concurrency, duration=duration, headers=headers or {}))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under headers: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        return " | ".join(parts)

    print(line(cells[0]))
    print("-+-".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def api_login(base_url: str, email: str, password: str) -> dict[str, str]:
    """Authorization headers from POST /api/v1/auth/login."""
    response = httpx.post(
        f"{base_url}/api/v1/auth/login", data={"username": email, "password": password}, timeout=LOGIN_TIMEOUT_SECONDS
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def console_login(base_url: str, email: str, password: str) -> dict[str, str]:
    """A Cookie header for a console session, signed in through the real sign-in form (form token and all)."""
    with httpx.Client(base_url=base_url, timeout=LOGIN_TIMEOUT_SECONDS) as http:
        form = http.get("/console/login")
        found = _CSRF_FIELD.search(form.text)
        if form.status_code != 200 or found is None:
            raise RuntimeError(f"GET /console/login answered {form.status_code} without a sign-in form")
        done = http.post("/console/login", data={"email": email, "password": password, "csrf_token": found[1]})
        if done.status_code != 303 or "mc_session" not in done.cookies:
            raise RuntimeError(f"console sign-in answered {done.status_code}: {done.text[:200]}")
        return {"Cookie": f"mc_session={done.cookies['mc_session']}"}
