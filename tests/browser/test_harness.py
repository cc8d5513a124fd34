"""The harness itself: without a Chromium the browser tests skip, and with CI=true they fail instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 120  # bounds a hung run only


def run_browser_test(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest on one browser test in a child process, with no Chromium to be found."""
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "CHROMIUM_PATH", "PYTEST_ADDOPTS")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/browser/test_unsubscribe.py"],
        cwd=ROOT,
        env={**base, "CHROMIUM_PATH": str(tmp_path / "no-such-chromium"), **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


@pytest.mark.parametrize(("ci", "exit_code", "says"), [("", 0, "2 skipped"), ("true", 1, "CI=true and no Chromium")])
def test_no_browser_skips_but_fails_on_ci(tmp_path: Path, ci: str, exit_code: int, says: str) -> None:
    done = run_browser_test(tmp_path, CI=ci)
    assert done.returncode == exit_code, done.stdout[-2000:]
    assert says in done.stdout
