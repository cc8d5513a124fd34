"""Guard mutants: each removes or weakens one guard, and the tests that claim to cover it must then fail.

`make mutants` (or `python -m tests.mutants [name ...]`) copies the working tree to a scratch folder, applies one
mutant at a time there, runs only the tests named for it, and prints a table: killed (a test failed, as it
must) or survived (no test noticed the broken guard). It exits 1 when any mutant survives. A mutant whose text
is no longer found in its file is reported as stale, so the list cannot silently drift from the code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 900

BOOKING_TESTS = ("tests/api/test_booking.py", "tests/api/test_booking_abuse.py", "tests/domain")
OUTREACH_TESTS = ("tests/agent/test_outreach.py", "tests/db/test_lease_guards.py")
REPLY_TESTS = (
    "tests/agent/test_reply_overlap.py",
    "tests/agent/test_replies_gmail.py",
    "tests/agent/test_reply_manual.py",
)
LOGIN_TESTS = ("tests/api/test_auth.py", "tests/api/test_auth_throttle.py")
CONSOLE_TESTS = ("tests/web/test_console_auth.py", "tests/web/test_console_campaigns.py")


@dataclass(frozen=True)
class Mutant:
    """One guard broken in one way: `old` (found exactly once in `path`) becomes `new`."""

    guard: str
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    Mutant(
        "slot claims",
        "unique (doctor, bucket) index dropped",
        "db/indexes.py",
        'name="doctor_bucket_unique", unique=True',
        'name="doctor_bucket_unique", unique=False',
        BOOKING_TESTS,
    ),
    Mutant(
        "slot claims",
        "a taken bucket reported as claimed",
        "db/repositories/slot_claims.py",
        "            await self.release_ids([c.id for c in claims])\n            return False\n        return True",
        "            return True\n        return True",
        BOOKING_TESTS,
    ),
    Mutant(
        "slot claims",
        "claims kept when the appointment insert fails",
        "domain/booking.py",
        "        except BaseException:\n"
        "            await self.repos.slot_claims.release(appointment_id)\n"
        "            raise",
        "        except BaseException:\n            raise",
        BOOKING_TESTS,
    ),
    Mutant(
        "orphan healing",
        "young claims (< 30 s) taken as orphans",
        "domain/booking.py",
        "            if claim.created_at and now - claim.created_at < ORPHAN_CLAIM_AGE:\n"
        "                continue  # may belong to a booking still in flight\n",
        "",
        BOOKING_TESTS,
    ),
    Mutant(
        "orphan healing",
        "claims of cancelled appointments never freed",
        "domain/booking.py",
        "if owner is None or owner.status == AppointmentStatus.CANCELLED:",
        "if owner is None:",
        BOOKING_TESTS,
    ),
    Mutant(
        "outreach claims",
        "batch claim ignores status and due time",
        "db/repositories/campaigns.py",
        '{"_id": {"$in": picked}, "status": {"$in": statuses}, "follow_up_details.next_follow_up_at": due},',
        '{"_id": {"$in": picked}},',
        OUTREACH_TESTS,
    ),
    Mutant(
        "outreach claims",
        "manual claim ignores another worker's lease",
        "db/repositories/campaigns.py",
        '{"_id": key, "$or": [{"lease": None}, {"lease.until": {"$lte": now}}, {"lease.owner": owner}]},',
        '{"_id": key},',
        OUTREACH_TESTS,
    ),
    Mutant(
        "lease-guarded commit",
        "a run commits without holding its lease",
        "db/repositories/campaigns.py",
        '{"_id": oid(campaign_id), "lease.owner": owner, "lease.until": {"$gt": now}},',
        '{"_id": oid(campaign_id)},',
        OUTREACH_TESTS,
    ),
    Mutant(
        "outbound claims",
        "unique send key dropped",
        "db/indexes.py",
        'name="send_key_unique",\n            unique=True,',
        'name="send_key_unique",\n            unique=False,',
        OUTREACH_TESTS,
    ),
    Mutant(
        "outbound claims",
        "a live send marked unknown",
        "db/repositories/outbound_messages.py",
        '{"_id": oid(row_id), "status": OutboundStatus.CLAIMED.value, "lease.until": {"$lte": now}},',
        '{"_id": oid(row_id), "status": OutboundStatus.CLAIMED.value},',
        OUTREACH_TESTS,
    ),
    Mutant(
        "inbound claims",
        "unique external id dropped",
        "db/indexes.py",
        'name="external_unique", unique=True',
        'name="external_unique", unique=False',
        REPLY_TESTS,
    ),
    Mutant(
        "inbound claims",
        "event claim ignores a live lease",
        "db/repositories/inbound_events.py",
        '{**key, "status": InboundStatus.PENDING.value, "lease_until": {"$lte": now}},',
        '{**key, "status": InboundStatus.PENDING.value},',
        REPLY_TESTS,
    ),
    Mutant(
        "reply claims",
        "the one auto-reply claimed twice",
        "db/repositories/inbound_events.py",
        "        if result.modified_count == 1:\n            return True\n        # A sender that vanished mid-send",
        "        if True:\n            return True\n        # A sender that vanished mid-send",
        REPLY_TESTS,
    ),
    Mutant(
        "reply caps",
        "a held reply slot taken again",
        "db/repositories/reply_slots.py",
        "        except DuplicateKeyError:\n            pass\n        # Taken: still ours",
        "        except DuplicateKeyError:\n            return True\n        # Taken: still ours",
        REPLY_TESTS,
    ),
    Mutant(
        "reply caps",
        "another message's live slot retaken",
        "db/repositories/reply_slots.py",
        '{"key": key, "until": {"$lte": now}}',
        '{"key": key}',
        REPLY_TESTS,
    ),
    Mutant(
        "login counter",
        "attempts over the limit still checked",
        "db/repositories/login_attempts.py",
        'return int(doc["attempts"]) <= max_attempts and not (until and until > now)',
        "return not (until and until > now)",
        LOGIN_TESTS,
    ),
    Mutant(
        "login counter",
        "no cap on waiting password checks",
        "core/security.py",
        "if self._pending >= self.concurrency + self.queue:",
        "if False:",
        LOGIN_TESTS,
    ),
    Mutant(
        "snapshot single-flight",
        "every request starts its own computation",
        "core/snapshot.py",
        "if self._inflight is None or self._inflight.done():",
        "if True:",
        ("tests/domain/test_dashboard_snapshot.py", "tests/api/test_admin_dashboard.py"),
    ),
    Mutant(
        "fresh times after a lost slot",
        "the 409 page served from the availability cache",
        "domain/booking.py",
        "        if fresh:\n            return await compute()\n",
        "",
        ("tests/web/test_taken_slot_pages.py",),
    ),
    Mutant(
        "fresh times after a lost slot",
        "claims of bookings in flight not counted",
        "domain/booking.py",
        "        if held:\n",
        "        if False:\n",
        ("tests/web/test_taken_slot_pages.py",),
    ),
    Mutant(
        "one active campaign per type",
        "unique active_key index dropped",
        "db/indexes.py",
        'name="active_key_unique", unique=True',
        'name="active_key_unique", unique=False',
        ("tests/api/test_admin_campaigns.py",),
    ),
    Mutant(
        "console CSRF",
        "a console form accepted without its session's token",
        "domain/console_sessions.py",
        "        if not same(given, signed_in.csrf_token):\n",
        "        if False:\n",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console roles",
        "admin-only console pages open to staff",
        "web/console.py",
        "    AuthService.require_role(user.user, Role.ADMIN)\n",
        "",
        ("tests/web/test_console_auth.py",),
    ),
    Mutant(
        "one staff answer per handoff",
        "unique key index of staff_replies dropped",
        "db/indexes.py",
        '"staff_replies": [IndexModel("key", name="key_unique", unique=True)]',
        '"staff_replies": [IndexModel("key", name="key_unique", unique=False)]',
        ("tests/web/test_console_handoffs.py",),
    ),
)


def _copy_tree(target: Path) -> None:
    """The working tree as git sees it (tracked and untracked-but-not-ignored files), plus a link to the venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")


def _run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[str, float]:
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=tree,
            env=env,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started
    return ("passed" if result.returncode == 0 else "failed"), time.monotonic() - started


def run(selected: list[str]) -> int:
    """Apply each chosen mutant in a scratch copy, run its tests, print the table; 1 when any survives."""
    mutants = [m for m in MUTANTS if not selected or any(s in f"{m.guard} {m.name}" for s in selected)]
    rows: list[tuple[str, str, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="mutants-") as scratch:
        tree = Path(scratch)
        _copy_tree(tree)
        baselines: dict[tuple[str, ...], str] = {}
        for mutant in mutants:
            if mutant.tests not in baselines:
                baselines[mutant.tests] = _run_tests(tree, mutant.tests)[0]
            if baselines[mutant.tests] != "passed":
                rows.append((mutant.guard, mutant.name, "baseline fails", 0.0))
                continue
            path = tree / mutant.path
            original = path.read_text()
            if original.count(mutant.old) != 1:
                rows.append((mutant.guard, mutant.name, "stale (text not found once)", 0.0))
                continue
            path.write_text(original.replace(mutant.old, mutant.new))
            try:
                outcome, seconds = _run_tests(tree, mutant.tests)
            finally:
                path.write_text(original)
            rows.append(
                (mutant.guard, mutant.name, {"failed": "killed", "passed": "SURVIVED"}.get(outcome, outcome), seconds)
            )
            print(f"{rows[-1][2]:>9}  {mutant.guard}: {mutant.name}", flush=True)
    width = max(len(f"{g}: {n}") for g, n, _, _ in rows)
    print(f"\n{'guard: mutant'.ljust(width)} | result   | seconds")
    print(f"{'-' * width}-+----------+--------")
    for guard, name, result, seconds in rows:
        print(f"{f'{guard}: {name}'.ljust(width)} | {result:<8} | {seconds:7.1f}")
    killed = sum(r[2] == "killed" for r in rows)
    print(f"\n{killed} of {len(rows)} mutants killed")
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
