"""Outreach throughput: 2 worker processes send 1,000 due email follow-ups through a loopback SMTP sink.

1. Start-up probe: one `python -m scripts.run_worker --once` against the database with nothing due (import,
   settings, connect, ensure indexes, one empty claim, close): the fixed cost every worker process pays.
2. 1,000 due campaigns (one patient with an email each) are seeded with sync PyMongo; then 2 worker processes
   (`--once --concurrency 8`) run at once against a real aiosmtpd server in this process. Reported: wall time
   from starting the workers to the last one exiting, sends per second with and without start-up (the latter
   from the first to the last message the sink received; goal >= 100), messages received (exactly 1,000),
   outbound_messages per status ({"sent": 1000}) and the campaigns each worker handled.
3. A second pass (one more worker --once) must send nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from bson import ObjectId
from pymongo import MongoClient

from bench.common import BENCH_JWT_SECRET, REPO_ROOT, embedded_database, print_table
from core.config import Settings
from db.embedded import free_port
from db.indexes import INDEXES
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType, Channel
from models.patient import Patient

DB_NAME = "bench_outreach"
CAMPAIGNS = 1_000
WORKERS = 2
CONCURRENCY = 32
SENDS_PER_SECOND_GOAL = 100.0
WORKER_TIMEOUT_SECONDS = 1800.0
PROGRESS_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.005
HANDLED = re.compile(r"handled (\d+) campaigns")
LEASE_SECONDS = Settings.model_fields["OUTREACH_LEASE_SECONDS"].default


# ---- the SMTP sink ------------------------------------------------------------------------------------------


@dataclass
class _CountingHandler:
    """Accepts every message; keeps only the count, the recipients and when the first and last arrived."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0
    recipients: list[str] = field(default_factory=list)
    first_at: float | None = None
    last_at: float | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        at = time.perf_counter()
        with self.lock:
            self.count += 1
            self.recipients.extend(envelope.rcpt_tos)
            if self.first_at is None:
                self.first_at = at
            self.last_at = at
        return "250 Message accepted for delivery"

    def snapshot(self) -> tuple[int, list[str], float | None, float | None]:
        with self.lock:
            return self.count, list(self.recipients), self.first_at, self.last_at


@contextmanager
def _smtp_sink() -> Iterator[tuple[int, _CountingHandler]]:
    """aiosmtpd on a free loopback port in its own thread; yields (port, handler), always stops it."""
    handler = _CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


# ---- seed ---------------------------------------------------------------------------------------------------


def _seed(mongo_uri: str) -> None:
    """Create every index, then insert CAMPAIGNS due campaigns, each with its own patient."""
    now = datetime.now(UTC).replace(microsecond=0)
    patients: list[dict[str, Any]] = []
    campaigns: list[dict[str, Any]] = []
    for i in range(CAMPAIGNS):
        recall = i % 2 == 0
        patient = Patient(
            id=str(ObjectId()),
            name=f"Bench Patient {i}",
            email=f"patient-{i}@bench.example",
            created_at=now - timedelta(days=30),
            updated_at=now - timedelta(days=30),
        )
        campaign = Campaign(
            id=str(ObjectId()),
            patient_id=patient.id,
            campaign_type=CampaignType.RECALL if recall else CampaignType.RECOVERY,
            status=CampaignStatus.ATTEMPTING_RECALL if recall else CampaignStatus.ATTEMPTING_RECOVERY,
            channel=Channel.EMAIL,
            follow_up_details=FollowUpDetails(
                attempts_made=0, max_attempts=3, next_follow_up_at=now - timedelta(minutes=1 + i % 600)
            ),
            created_at=now - timedelta(days=1),
            updated_at=now - timedelta(days=1),
        )
        patients.append(patient.to_mongo())
        campaigns.append(campaign.to_mongo())
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    with client:
        db = client[DB_NAME]
        for collection, models in INDEXES.items():
            db[collection].create_indexes(models)
        db["patients"].insert_many(patients)
        db["campaigns"].insert_many(campaigns)


def _outcome(mongo_uri: str) -> tuple[dict[str, int], dict[str, int]]:
    """outbound_messages per status, and the campaigns' state after the run."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    with client:
        db = client[DB_NAME]
        by_status = {
            doc["_id"]: doc["n"]
            for doc in db["outbound_messages"].aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        }
        campaigns = db["campaigns"]
        now = datetime.now(UTC)
        state = {
            "attempts_made=1": campaigns.count_documents({"follow_up_details.attempts_made": 1}),
            "lease released": campaigns.count_documents({"lease": None}),
            "next follow-up in the future": campaigns.count_documents(
                {"follow_up_details.next_follow_up_at": {"$gt": now}}
            ),
            "interactions": db["interactions"].count_documents({}),
        }
    return dict(sorted(by_status.items())), state


# ---- worker processes ---------------------------------------------------------------------------------------


@dataclass
class _WorkerRun:
    """One finished `scripts.run_worker --once` process."""

    returncode: int
    seconds: float
    stdout: str
    stderr: str

    @property
    def handled(self) -> int | None:
        match = HANDLED.search(self.stdout)
        return int(match.group(1)) if match else None

    def log_counts(self) -> Counter[str]:
        """Its JSON log lines as "LEVEL msg" (LOG_LEVEL=WARNING: warnings and errors), other output lines apart."""
        counts: Counter[str] = Counter()
        for line in (self.stdout + self.stderr).splitlines():
            if not line.strip() or HANDLED.fullmatch(line.strip()):
                continue
            try:
                record = json.loads(line)
                counts[f"{record['level']} {record['msg']}"] += 1
            except (ValueError, KeyError, TypeError):
                counts["(other output line)"] += 1
        return counts


def _worker_env(mongo_uri: str, smtp_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(
        {
            "ENVIRONMENT": "development",
            "MONGO_URI": mongo_uri,
            "MONGO_DB_NAME": DB_NAME,
            "JWT_SECRET_KEY": BENCH_JWT_SECRET,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_USERNAME": "",
            "SMTP_PASSWORD": "",
            "SMTP_STARTTLS": "false",
            "QUIET_HOURS_START": "00:00",
            "QUIET_HOURS_END": "00:00",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _run_workers(
    count: int, env: Mapping[str, str], *, progress: Callable[[], int] | None = None
) -> tuple[float, list[_WorkerRun]]:
    """Start `count` workers at once and wait for all; returns (wall seconds, runs). Always reaps them.

    With `progress` (messages received so far), prints a line every PROGRESS_SECONDS while they run.
    """
    cmd = [sys.executable, "-m", "scripts.run_worker", "--once", "--concurrency", str(CONCURRENCY)]
    with tempfile.TemporaryDirectory(prefix="medcampaign-bench-worker-") as tmp:
        processes: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
        ended: dict[int, float] = {}
        try:
            started = time.perf_counter()
            for n in range(count):
                out, err = Path(tmp) / f"worker-{n}.out", Path(tmp) / f"worker-{n}.err"
                with open(out, "wb") as out_file, open(err, "wb") as err_file:
                    process = subprocess.Popen(
                        cmd, cwd=REPO_ROOT, env=dict(env), stdout=out_file, stderr=err_file, stdin=subprocess.DEVNULL
                    )
                processes.append((process, out, err))
            deadline = started + WORKER_TIMEOUT_SECONDS
            next_report = started + PROGRESS_SECONDS
            while len(ended) < count:
                for n, (process, _, _) in enumerate(processes):
                    if n not in ended and process.poll() is not None:
                        ended[n] = time.perf_counter()
                now = time.perf_counter()
                if now > deadline:
                    raise RuntimeError(f"workers still running after {WORKER_TIMEOUT_SECONDS:.0f} s")
                if progress is not None and now >= next_report:
                    print(f"  ... {now - started:.0f} s: {progress()} messages received", flush=True)
                    next_report += PROGRESS_SECONDS
                time.sleep(POLL_SECONDS)
        finally:
            for process, _, _ in processes:
                _stop(process)
        runs = [
            _WorkerRun(
                returncode=process.returncode,
                seconds=ended[n] - started,
                stdout=out.read_text(errors="replace"),
                stderr=err.read_text(errors="replace"),
            )
            for n, (process, out, err) in enumerate(processes)
        ]
    return max(ended.values()) - started, runs


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _check_exits(runs: list[_WorkerRun], what: str) -> None:
    for n, run in enumerate(runs):
        if run.returncode != 0 or run.handled is None:
            tail = "\n".join((run.stdout + run.stderr).splitlines()[-40:])
            raise RuntimeError(f"{what} worker {n} exited with code {run.returncode}:\n{tail}")


# ---- entry point --------------------------------------------------------------------------------------------


def main() -> None:
    """Probe start-up, seed, run the workers, check and print; a failed check raises after printing."""
    with embedded_database() as mongo_uri, _smtp_sink() as (smtp_port, sink):
        env = _worker_env(mongo_uri, smtp_port)

        print("-- 1. worker start-up " + "-" * 56)
        probe_wall, probe_runs = _run_workers(1, env)  # nothing seeded yet: handles 0
        _check_exits(probe_runs, "probe")
        print(
            f"one worker --once with nothing due (import + settings + connect + ensure indexes + 1 claim + close):"
            f" {probe_wall:.2f} s, handled {probe_runs[0].handled}"
        )

        print(f"\n-- 2. {WORKERS} workers x {CAMPAIGNS:,} due campaigns " + "-" * 42)
        seed_started = time.perf_counter()
        _seed(mongo_uri)
        print(
            f"seeded {CAMPAIGNS:,} due email campaigns (half RECALL, half RECOVERY), one patient each, in"
            f" {time.perf_counter() - seed_started:.2f} s; quiet hours off, offline templates (no LLM)"
        )
        print(
            f"{WORKERS} x `python -m scripts.run_worker --once --concurrency {CONCURRENCY}`, SMTP sink on loopback",
            flush=True,
        )
        started = time.perf_counter()
        wall, runs = _run_workers(WORKERS, env, progress=lambda: sink.snapshot()[0])
        received, recipients, first_at, last_at = sink.snapshot()
        _check_exits(runs, "main")
        by_status, state = _outcome(mongo_uri)
        print_table(
            ["worker", "handled", "exit", "ran s"],
            [[f"worker {n + 1}", run.handled, run.returncode, f"{run.seconds:.2f}"] for n, run in enumerate(runs)],
        )
        to_first = (first_at - started) if first_at is not None else float("nan")
        span = (last_at - first_at) if first_at is not None and last_at is not None else 0.0
        steady = (received - 1) / span if span > 0 else 0.0
        overall = received / wall if wall > 0 else 0.0
        print(f"wall time, workers started -> last worker exited: {wall:.2f} s")
        print(f"  workers started -> first message at the sink: {to_first:.2f} s (start-up + first run)")
        print(f"  first -> last message at the sink: {span:.2f} s")
        print(f"sends/s including start-up ({received} / {wall:.2f} s): {overall:.1f}")
        print(f"sends/s excluding start-up ({received - 1} intervals / {span:.2f} s first -> last): {steady:.1f}")
        verdict = "met" if overall >= SENDS_PER_SECOND_GOAL else "NOT met"
        verdict_steady = "met" if steady >= SENDS_PER_SECOND_GOAL else "NOT met"
        print(f"goal >= {SENDS_PER_SECOND_GOAL:.0f} sends/s: {verdict} including start-up, {verdict_steady} excluding")
        distinct = len(set(recipients))
        print(f"messages received by the sink: {received} ({distinct} distinct recipients)")
        print(f"outbound_messages by status: {by_status}")
        print(f"campaigns after the run: {state}")
        handled_total = sum(run.handled or 0 for run in runs)
        logs = sum((run.log_counts() for run in runs), Counter[str]())
        print(f"campaigns handled by the workers in total: {handled_total}; worker log lines: {dict(logs) or 'none'}")
        if handled_total > CAMPAIGNS:
            print(
                f"  ({handled_total - CAMPAIGNS} more runs than campaigns. Expected cause: a run took longer than the"
                f" {LEASE_SECONDS} s lease, so another worker claimed that campaign again (the first run's commit is"
                " refused: 'finalisation refused: lease lost'); the outbound_messages claim stopped a second send)"
            )

        print("\n-- 3. second pass " + "-" * 60)
        again_wall, again_runs = _run_workers(1, env)
        _check_exits(again_runs, "second-pass")
        received_after, _, _, _ = sink.snapshot()
        more = received_after - received
        print(f"one more worker --once: handled {again_runs[0].handled}, sent {more} more ({again_wall:.2f} s)")

    problems = []
    if received != CAMPAIGNS or distinct != CAMPAIGNS:
        problems.append(f"the sink received {received} messages for {distinct} recipients, not {CAMPAIGNS}")
    if by_status != {"sent": CAMPAIGNS}:
        problems.append(f"outbound_messages are {by_status}, not {{'sent': {CAMPAIGNS}}}")
    if handled_total < CAMPAIGNS:
        problems.append(f"the workers handled {handled_total} campaigns, fewer than {CAMPAIGNS}")
    if state["attempts_made=1"] != CAMPAIGNS or state["lease released"] != CAMPAIGNS:
        problems.append(f"campaigns after the run: {state}")
    if more != 0 or again_runs[0].handled != 0:
        problems.append(f"the second pass handled {again_runs[0].handled} and sent {more}")
    print(f"\ncheck: {'OK' if not problems else 'FAILED: ' + '; '.join(problems)}")
    if problems:
        raise RuntimeError("; ".join(problems))
