"""`python -m scripts.ensure_browser`: what `make test` runs before pytest to have a Chromium for the browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.browser import ci, find_chromium

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 60  # bounds a hung process only


def run(**env: str) -> subprocess.CompletedProcess[str]:
    """The script as `make test` runs it, with these variables over a clean CI/CHROMIUM_PATH environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "CHROMIUM_PATH")}
    return subprocess.run(
        [sys.executable, "-m", "scripts.ensure_browser"],
        cwd=ROOT,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def test_without_a_browser_on_ci_it_fails_saying_how_to_install_one(tmp_path: Path) -> None:
    done = run(CI="true", CHROMIUM_PATH=str(tmp_path / "no-such-chromium"))
    assert done.returncode == 1
    assert "is not a working Chromium binary" in done.stderr
    assert "apt-get install --no-install-recommends chromium" in done.stderr
    assert "CI=true" in done.stderr


def test_without_a_browser_elsewhere_it_explains_and_lets_the_tests_skip(tmp_path: Path) -> None:
    not_a_browser = tmp_path / "chromium"
    not_a_browser.write_text("#!/bin/sh\nexit 3\n")
    not_a_browser.chmod(0o755)
    done = run(CHROMIUM_PATH=str(not_a_browser))
    assert done.returncode == 0
    assert "will be skipped" in done.stderr


def test_with_a_browser_it_names_it_at_once() -> None:
    found = find_chromium()
    if found is None:
        if ci():
            pytest.fail("CI=true and no Chromium: `make test` should have installed it")
        pytest.skip("no Chromium on this machine")
    done = run(CHROMIUM_PATH=found)
    assert done.returncode == 0, done.stderr
    assert f"Browser tests use {found} (" in done.stdout
