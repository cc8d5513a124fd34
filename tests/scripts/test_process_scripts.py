"""`python -m scripts.run_worker` and `python -m scripts.gmail_watch` as real processes against the test database."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.container import Container, build_container
from models.base import new_id
from models.campaign import Campaign, FollowUpDetails
from models.enums import CampaignStatus, CampaignType, Channel
from models.patient import Patient
from services.gmail.fake_server import FakeGmailServer, write_token_file
from tests.fakes.smtp import SmtpSink
from tests.support import TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parents[2]
CLINIC = "desk@clinic.test"
TOPIC = "projects/p/topics/t"
PROCESS_TIMEOUT_SECONDS = 30  # bounds a hung process only


@pytest.fixture
def script_env(mongo_uri: str, db_name: str, smtp: SmtpSink, tmp_path: Path) -> dict[str, str]:
    """The environment a deployed script gets: only variables, no .env (the process runs in an empty dir)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO", "SMTP", "GMAIL", "GOOGLE", "WORKER"))}
    env.update(
        PYTHONPATH=str(ROOT),
        ENVIRONMENT="test",
        MONGO_URI=mongo_uri,
        MONGO_DB_NAME=db_name,
        JWT_SECRET_KEY=TEST_JWT_SECRET,
        SMTP_HOST=smtp.host,
        SMTP_PORT=str(smtp.port),
        SMTP_STARTTLS="false",
        SMTP_FROM_EMAIL="desk@brightsmiles.test",
        PUBLIC_BASE_URL="https://clinic.example",
        QUIET_HOURS_START="00:00",
        QUIET_HOURS_END="00:00",
        WORKER_POLL_SECONDS="0.05",
        LOG_LEVEL="INFO",
    )
    return env


@pytest.fixture
async def seeder(make_settings: Callable[..., Settings]) -> AsyncIterator[Container]:
    container = await build_container(make_settings())
    yield container
    await container.client.drop_database(container.settings.MONGO_DB_NAME)
    await container.close()


async def seed_due(container: Container, email: str) -> Campaign:
    now = container.clock.now()
    patient = Patient(id=new_id(), name="Ann Lee", email=email, created_at=now, updated_at=now)
    await container.repos.patients.insert(patient)
    campaign = Campaign(
        id=new_id(),
        patient_id=patient.id,
        campaign_type=CampaignType.RECALL,
        status=CampaignStatus.ATTEMPTING_RECALL,
        channel=Channel.EMAIL,
        follow_up_details=FollowUpDetails(attempts_made=0, max_attempts=3, next_follow_up_at=now),
        created_at=now - timedelta(days=1),
        updated_at=now,
    )
    await container.repos.campaigns.insert(campaign)
    return campaign


async def run(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_run_worker_once_sends_what_is_due_and_exits(
    script_env: dict[str, str], seeder: Container, smtp: SmtpSink, tmp_path: Path
) -> None:
    campaigns = [await seed_due(seeder, f"p{i}@example.com") for i in range(3)]
    code, out, err = await run(script_env, tmp_path, "scripts.run_worker", "--once", "--concurrency", "2")
    assert code == 0, err
    assert "handled 3 campaigns" in out
    assert sorted(m["To"] for m in smtp.messages) == ["p0@example.com", "p1@example.com", "p2@example.com"]
    for campaign in campaigns:
        stored = await seeder.repos.campaigns.get(campaign.id)
        assert stored is not None and stored.follow_up_details.attempts_made == 1 and stored.lease is None


async def test_run_worker_loops_until_sigterm(
    script_env: dict[str, str], seeder: Container, smtp: SmtpSink, tmp_path: Path
) -> None:
    await seed_due(seeder, "loop@example.com")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.run_worker",
        env=script_env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        [message] = await smtp.arrival(1)
        assert message["To"] == "loop@example.com"
        assert process.returncode is None  # still running after its first pass
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT_SECONDS)
        assert process.returncode == 0, err.decode()
        assert "outreach worker stopped" in out.decode()  # a clean exit through run_forever, not a kill
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
def gmail() -> Iterator[FakeGmailServer]:
    server = FakeGmailServer(email_address=CLINIC)
    server.start()
    yield server
    server.stop()


async def test_gmail_watch_once_starts_the_watch_and_stores_it(
    script_env: dict[str, str], seeder: Container, gmail: FakeGmailServer, tmp_path: Path
) -> None:
    env: dict[str, Any] = {
        **script_env,
        "GMAIL_TOPIC_NAME": TOPIC,
        "GOOGLE_TOKEN_FILE": write_token_file(tmp_path),
        "GMAIL_API_BASE_URL": gmail.url,
        "CLINIC_EMAIL": CLINIC,
    }
    code, out, err = await run(env, tmp_path, "scripts.gmail_watch")
    assert code == 0, err
    [watch] = gmail.watches
    assert watch["topicName"] == TOPIC and watch["labelIds"] == ["INBOX"]
    assert f"watch started: history_id={gmail.history_id} " in out
    state = await seeder.repos.gmail_state.get_by_address(CLINIC)
    assert state is not None and state.history_id == gmail.history_id and state.watch_expiration is not None
    assert state.watch_expiration.isoformat() in out
    gmail.history_id += 5  # the mailbox moved on; running it again renews the watch and moves the cursor forward
    code, out, err = await run(env, tmp_path, "scripts.gmail_watch")
    assert code == 0, err
    assert len(gmail.watches) == 2
    renewed = await seeder.repos.gmail_state.get_by_address(CLINIC)
    assert renewed is not None and renewed.history_id == gmail.history_id
