"""Replies: 300 patient emails through Pub/Sub push -> history sync -> the reply graph -> Gmail send.

The app runs under uvicorn in a subprocess, with the real googleapiclient talking to a loopback fake Gmail and the
real ChatOpenAI talking to a loopback fake OpenAI, both served from this process (services/gmail/fake_server.py,
services/llm/fake_server.py). The fake model answers every call with a valid ReplyUnderstanding (booking_request,
confidence 0.95). The whole run is done twice, each time on a fresh database: with one uvicorn worker process and
with two (pushes then land on either process, and both sync the same mailbox: the exactly-once check covers two
processes racing for every message).

1. Seed (sync PyMongo): 300 patients, each with a RECALL campaign in ATTEMPTING_RECALL and an outgoing outreach
   interaction carrying a unique Message-ID; a staff user logs in and starts the watch (POST /gmail/watch/start).
2. One incoming reply per patient is delivered to the fake mailbox (In-Reply-To its outreach Message-ID, each in
   its own thread).
3. Pushes: one Pub/Sub push per 10 new messages (30 pushes, each naming the history id after its 10th message,
   each with its own messageId), all fired concurrently at POST /pubsub/push?token=...
Reported: wall time from the first push to the 300th reply the fake Gmail received, replies per second
(goal >= 50), the replies sent (exactly 300, in 300 distinct threads, one per incoming thread), LLM calls per
reply (goal 1), push response latency p50/p99 (goal: well under 10 s), the fake Gmail's requests per route and
how the replies arrived over time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import MongoClient

from bench.common import LoadResult, app_server, embedded_database, print_table
from core.security import hash_password
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType, Channel, Direction
from models.interaction import Interaction
from models.patient import Patient
from services.gmail.fake_server import FakeGmailServer, write_token_file
from services.llm.fake_server import FakeOpenAI

DB_NAME = "bench_replies"
PATIENTS = 300
# One process, as `make run` serves; then two, as a deployment would run: the same exactly-once check across both.
WORKER_PROCESSES = (1, 2)
# Messages handled at once per process. The fake model answers at once, so this only has to keep the process busy;
# 32 lets concurrent handlers share more database commands (group commit, grouped lookups) than 16 does.
CONCURRENCY = 32
MESSAGES_PER_PUSH = 10
REPLIES_PER_SECOND_GOAL = 50.0
PUSH_LATENCY_GOAL_SECONDS = 10.0
REPLY_TIMEOUT_SECONDS = 600.0
SETTLE_TIMEOUT_SECONDS = 60.0
PROGRESS_SECONDS = 30.0
POLL_SECONDS = 0.005

CLINIC = "frontdesk@bench-clinic.test"
PUSH_TOKEN = "bench-push-secret-0123456789"  # noqa: S105 - bench only
STAFF_EMAIL = "desk@bench-clinic.test"
STAFF_PASSWORD = "bench-desk-password"  # noqa: S105 - a throwaway account in a throwaway database
UNDERSTANDING = {"intent": "booking_request", "confidence": 0.95, "summary": "Wants to book", "kb_article_id": None}
SUBJECT = "Re: Time for your check-up"
REPLY_TEXT = "Yes please, I'd like to book an appointment next week."


# ---- fakes and settings -------------------------------------------------------------------------------------


@contextmanager
def _fakes() -> Iterator[tuple[FakeGmailServer, FakeOpenAI]]:
    """The loopback fake Gmail and fake OpenAI, in this process; always stopped."""
    gmail = FakeGmailServer(email_address=CLINIC)
    openai = FakeOpenAI()
    openai.default = lambda _body: UNDERSTANDING
    gmail.start()
    try:
        openai.start()
        try:
            yield gmail, openai
        finally:
            openai.stop()
    finally:
        gmail.stop()


def _app_env(gmail: FakeGmailServer, openai: FakeOpenAI, token_file: str) -> dict[str, str]:
    return {
        "GMAIL_TOPIC_NAME": "projects/bench/topics/gmail",
        "GOOGLE_TOKEN_FILE": token_file,
        "GMAIL_API_BASE_URL": gmail.url,
        "CLINIC_EMAIL": CLINIC,
        "CLINIC_NAME": "Bench Clinic",
        "PUBLIC_BASE_URL": "https://clinic.example",
        "PUBSUB_VERIFICATION_TOKEN": PUSH_TOKEN,
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": openai.base_url,
        "REPLY_DAILY_CAP_PER_SENDER": "1000",
        "REPLY_CONCURRENCY": str(CONCURRENCY),
        "LOG_LEVEL": "WARNING",
    }


# ---- seed ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Seeded:
    name: str
    email: str
    outreach_header: str


def _seed(mongo_uri: str) -> list[_Seeded]:
    """PATIENTS patients in a recall campaign, each with an outreach email we can be replied to; and a staff user."""
    now = datetime.now(UTC).replace(microsecond=0)
    patients: list[dict[str, Any]] = []
    campaigns: list[dict[str, Any]] = []
    interactions: list[dict[str, Any]] = []
    seeded: list[_Seeded] = []
    for i in range(PATIENTS):
        patient = Patient(
            id=str(ObjectId()),
            name=f"Bench Patient{i}",
            email=f"patient-{i}@bench.example",
            created_at=now - timedelta(days=30),
            updated_at=now - timedelta(days=30),
        )
        campaign = Campaign(
            id=str(ObjectId()),
            patient_id=patient.id,
            campaign_type=CampaignType.RECALL,
            status=CampaignStatus.ATTEMPTING_RECALL,
            follow_up_details=FollowUpDetails(attempts_made=1, next_follow_up_at=now + timedelta(days=2)),
            created_at=now - timedelta(days=1),
            updated_at=now - timedelta(days=1),
        )
        header = f"<outreach-{ObjectId()}@bench-clinic.test>"
        outreach = Interaction(
            id=str(ObjectId()),
            campaign_id=campaign.id,
            patient_id=patient.id,
            direction=Direction.OUTGOING,
            channel=Channel.EMAIL,
            timestamp=now - timedelta(hours=2),
            body="Time for your check-up",
            message_id_header=header,
            kind="outreach",
        )
        patients.append(patient.to_mongo())
        campaigns.append(campaign.to_mongo())
        interactions.append(outreach.to_mongo())
        assert patient.email is not None
        seeded.append(_Seeded(patient.name, patient.email, header))
    staff = {
        "_id": ObjectId(),
        "email": STAFF_EMAIL,
        "password_hash": hash_password(STAFF_PASSWORD),
        "role": "staff",
        "is_active": True,
        "created_at": now,
        "updated_at": now,
    }
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    with client:
        db = client[DB_NAME]
        db["patients"].insert_many(patients)
        db["campaigns"].insert_many(campaigns)
        db["interactions"].insert_many(interactions)
        db["users"].insert_one(staff)
    return seeded


def _start_watch(base_url: str) -> int:
    """Log the staff user in and start the Gmail watch; returns the history id the app stored."""
    login = httpx.post(
        f"{base_url}/api/v1/auth/login", data={"username": STAFF_EMAIL, "password": STAFF_PASSWORD}, timeout=30.0
    )
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    started = httpx.post(f"{base_url}/gmail/watch/start", headers=headers, timeout=30.0)
    started.raise_for_status()
    return int(started.json()["history_id"])


def _deliver(gmail: FakeGmailServer, seeded: list[_Seeded]) -> tuple[list[str], list[int]]:
    """One reply per patient, each in its own thread; returns the thread ids and the history id after each."""
    threads: list[str] = []
    history_ids: list[int] = []
    for patient in seeded:
        _, thread_id = gmail.add_incoming(
            f"{patient.name} <{patient.email}>",
            SUBJECT,
            REPLY_TEXT,
            message_id_header=f"<patient-{ObjectId()}@bench.example>",
            in_reply_to=patient.outreach_header,
            references=patient.outreach_header,
        )
        threads.append(thread_id)
        history_ids.append(gmail.history_id)
    return threads, history_ids


# ---- pushes and the wait for the replies --------------------------------------------------------------------


def _envelope(history_id: int, message_id: str) -> dict[str, Any]:
    data = base64.b64encode(json.dumps({"emailAddress": CLINIC, "historyId": history_id}).encode()).decode()
    return {
        "message": {"data": data, "messageId": message_id, "publishTime": datetime.now(UTC).isoformat()},
        "subscription": "projects/bench/subscriptions/gmail-push",
    }


@dataclass
class _Run:
    """What the push phase measured; times are seconds after the first push was fired."""

    push_statuses: list[int | str] = field(default_factory=list)
    push_latencies: list[float] = field(default_factory=list)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds, replies sent so far) on change
    last_reply_at: float | None = None
    timed_out: bool = False


async def _watch_replies(gmail: FakeGmailServer, run: _Run, started: float) -> None:
    seen = 0
    next_progress = started + PROGRESS_SECONDS
    while True:
        now = time.perf_counter()
        count = len(gmail.sent)
        if count != seen:
            seen = count
            run.timeline.append((now - started, count))
        if count >= PATIENTS:
            run.last_reply_at = now - started
            return
        if now - started > REPLY_TIMEOUT_SECONDS:
            run.timed_out = True
            return
        if now >= next_progress:
            print(f"  ... {count}/{PATIENTS} replies after {now - started:.0f} s", flush=True)
            next_progress += PROGRESS_SECONDS
        await asyncio.sleep(POLL_SECONDS)


async def _push_all(base_url: str, gmail: FakeGmailServer, history_ids: list[int]) -> _Run:
    marks = [
        history_ids[min(i + MESSAGES_PER_PUSH, len(history_ids)) - 1]
        for i in range(0, len(history_ids), MESSAGES_PER_PUSH)
    ]
    limits = httpx.Limits(max_connections=len(marks), max_keepalive_connections=len(marks))
    run = _Run()
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=REPLY_TIMEOUT_SECONDS) as client:

        async def push(index: int, history_id: int) -> tuple[int | str, float]:
            body = _envelope(history_id, f"bench-push-{index}")
            at = time.perf_counter()
            try:
                status: int | str = (await client.post(f"/pubsub/push?token={PUSH_TOKEN}", json=body)).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            return status, time.perf_counter() - at

        started = time.perf_counter()
        watcher = asyncio.create_task(_watch_replies(gmail, run, started))
        outcomes = await asyncio.gather(*(push(i, h) for i, h in enumerate(marks)))
        await watcher
    run.push_statuses = [status for status, _ in outcomes]
    run.push_latencies = [seconds for _, seconds in outcomes]
    return run


def _settle(mongo_uri: str, pushes: int) -> tuple[float, dict[str, int], dict[str, int], int]:
    """Wait until every push is marked done.

    Returns the seconds waited, the pubsub and gmail inbound events per status, and the auto_reply interactions.
    """
    started = time.perf_counter()
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    with client:
        events = client[DB_NAME]["inbound_events"]

        def by_status(source: str) -> dict[str, int]:
            pipeline: list[dict[str, Any]] = [
                {"$match": {"source": source}},
                {"$group": {"_id": "$status", "n": {"$sum": 1}}},
            ]
            return {str(doc["_id"]): doc["n"] for doc in events.aggregate(pipeline)}

        while True:
            push_status = by_status("pubsub")
            if push_status.get("done", 0) >= pushes or time.perf_counter() - started > SETTLE_TIMEOUT_SECONDS:
                break
            time.sleep(0.05)
        gmail_status = by_status("gmail")
        auto_replies = client[DB_NAME]["interactions"].count_documents({"kind": "auto_reply"})
    return (
        time.perf_counter() - started,
        dict(sorted(push_status.items())),
        dict(sorted(gmail_status.items())),
        auto_replies,
    )


# ---- report -------------------------------------------------------------------------------------------------


def _at_fraction(timeline: list[tuple[float, int]], count: int) -> str:
    for seconds, sent in timeline:
        if sent >= count:
            return f"{seconds:.2f}"
    return "-"


def _report(
    run: _Run, gmail: FakeGmailServer, openai: FakeOpenAI, threads: list[str], pushes: int, mongo_uri: str
) -> bool:
    sent = list(gmail.sent)
    wall = run.last_reply_at if run.last_reply_at is not None else (run.timeline[-1][0] if run.timeline else 0.0)
    print(f"{pushes} pushes ({MESSAGES_PER_PUSH} new messages each) fired concurrently; first push -> reply {PATIENTS}")
    if run.timed_out:
        print(f"TIMED OUT after {REPLY_TIMEOUT_SECONDS:.0f} s with {len(sent)}/{PATIENTS} replies")
    rate = len(sent) / wall if wall > 0 else 0.0
    verdict = "met" if rate >= REPLIES_PER_SECOND_GOAL and not run.timed_out else "NOT met"
    print(f"wall time, first push to reply {PATIENTS}: {wall:.2f} s")
    print(f"replies per second: {rate:.1f} (goal >= {REPLIES_PER_SECOND_GOAL:.0f}: {verdict})")
    first = run.timeline[0][0] if run.timeline else float("nan")
    quarters = [max(1, PATIENTS * q // 4) for q in (1, 2, 3, 4)]
    print(
        f"first reply after {first:.2f} s; replies 25%/50%/75%/100% at "
        + " / ".join(_at_fraction(run.timeline, q) for q in quarters)
        + " s"
    )

    push_result = LoadResult(duration=wall, latencies=run.push_latencies)
    statuses = Counter(run.push_statuses)
    p50, p99 = push_result.percentile_ms(0.50), push_result.percentile_ms(0.99)
    latency_ok = statuses == Counter({204: pushes}) and p99 / 1000 < PUSH_LATENCY_GOAL_SECONDS
    print(
        f"push responses: {dict(statuses)}; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms,"
        f" max {max(run.push_latencies) * 1000:.1f} ms (goal well under {PUSH_LATENCY_GOAL_SECONDS:.0f} s:"
        f" {'met' if latency_ok else 'NOT met'})"
    )

    settle_seconds, push_status, gmail_status, auto_replies = _settle(mongo_uri, pushes)
    sent = list(gmail.sent)
    sent_threads = Counter(message.thread_id for message in sent)
    duplicates = sum(n - 1 for n in sent_threads.values() if n > 1)
    same_threads = set(sent_threads) == set(threads)
    llm_calls = len(openai.requests)
    print(
        f"after every push was processed (+{settle_seconds:.2f} s): {len(sent)} replies sent in"
        f" {len(sent_threads)} distinct threads ({duplicates} duplicates; threads = the incoming threads:"
        f" {same_threads}); {auto_replies} auto_reply interactions"
    )
    print(f"inbound events: pubsub {push_status}, gmail {gmail_status}")
    print(f"LLM calls: {llm_calls} = {llm_calls / PATIENTS:.2f} per reply (goal 1)")
    routes = Counter(request.route for request in gmail.requests)
    print_table(
        ["fake Gmail route", "requests", "per reply"],
        [[route, n, f"{n / PATIENTS:.2f}"] for route, n in sorted(routes.items())],
    )
    ok = (
        not run.timed_out
        and len(sent) == PATIENTS
        and len(sent_threads) == PATIENTS
        and same_threads
        and auto_replies == PATIENTS
        and statuses == Counter({204: pushes})
    )
    print(f"exactly-once check: {'OK' if ok else 'FAILED'} (expected {PATIENTS} replies, one per thread)")
    return ok


# ---- entry point --------------------------------------------------------------------------------------------


def _scenario(workers: int) -> bool:
    """One full run on a fresh database and fresh fakes, served by `workers` uvicorn worker processes."""
    with (
        embedded_database() as mongo_uri,
        _fakes() as (gmail, openai),
        tempfile.TemporaryDirectory(prefix="medcampaign-bench-replies-") as tmp,
    ):
        env = _app_env(gmail, openai, write_token_file(Path(tmp)))
        with app_server(mongo_uri, DB_NAME, extra_env=env, workers=workers) as app:
            seeded = _seed(mongo_uri)
            watch_history = _start_watch(app.url)
            threads, history_ids = _deliver(gmail, seeded)
            print(
                f"{PATIENTS} patients seeded (RECALL, ATTEMPTING_RECALL, one outreach each); watch started at"
                f" history {watch_history}; {len(threads)} replies delivered (history {history_ids[0]}"
                f"..{history_ids[-1]}); fake model answers booking_request 0.95;"
                f" {workers} uvicorn worker process{'es' if workers > 1 else ''}, REPLY_CONCURRENCY {CONCURRENCY}"
            )
            run = asyncio.run(_push_all(app.url, gmail, history_ids))
            return _report(run, gmail, openai, threads, len(run.push_statuses), mongo_uri)


def main() -> None:
    """Per configuration: seed, start the watch, deliver the replies, push, and wait for every answer."""
    failed = []
    for workers in WORKER_PROCESSES:
        print(f"\n-- {workers} uvicorn worker process{'es' if workers > 1 else ''} " + "-" * 50)
        if not _scenario(workers):
            failed.append(workers)
    if failed:
        raise RuntimeError(f"the replies benchmark did not answer every message exactly once with {failed} workers")
