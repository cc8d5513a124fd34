"""Where the system Chromium is and how to launch it headless: shared by the browser tests, screenshots and bench.

Playwright drives the distribution's Chromium (Debian package `chromium`) instead of a browser build of its own,
which `playwright install` would download (not possible on CI). Playwright itself is a dev dependency and is not
imported here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM_PATH_ENV = "CHROMIUM_PATH"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
INSTALL_HINT = (
    "Browser tests need Chromium. Install it with one of:\n"
    "  Debian:          sudo apt-get install --no-install-recommends chromium\n"
    "  Ubuntu:          sudo apt-get install chromium-browser (a snap; or Google Chrome's .deb)\n"
    "  macOS:           brew install --cask chromium\n"
    "  anywhere online: .venv/bin/playwright install chromium, then set "
    f"{CHROMIUM_PATH_ENV} to the chrome binary under ~/.cache/ms-playwright\n"
    f"or point {CHROMIUM_PATH_ENV} at any Chromium or Chrome binary. `make test` installs it itself when run as root "
    "on Debian/Ubuntu."
)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS: dict[str, dict[str, int]] = {"phone": PHONE, "desktop": DESKTOP}


def ci() -> bool:
    """True on CI (CI=true), where a missing browser is a failure rather than a skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def find_chromium() -> str | None:
    """The Chromium to drive: $CHROMIUM_PATH when set (and executable), else the first candidate on PATH."""
    configured = os.environ.get(CHROMIUM_PATH_ENV, "").strip()
    if configured:
        path = Path(configured)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_options(executable: str) -> dict[str, Any]:
    """Keyword arguments for `playwright.chromium.launch` with the system binary, headless."""
    args = ["--disable-dev-shm-usage"]
    # Chromium refuses to start its sandbox as root (CI and these machines run as root).
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return {"executable_path": executable, "headless": True, "args": args}
