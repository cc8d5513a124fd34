"""Make sure the browser tests have a Chromium: `python -m scripts.ensure_browser` (run by `make test`).

Found already: prints which one and exits 0 at once. Missing, as root with apt-get (Debian, Ubuntu, CI): installs
the distribution's `chromium` quietly, its output in var/chromium-install.log. Otherwise prints how to install it.
Exits 1 only with CI=true and still no browser, so a CI run cannot pass by skipping the browser tests; elsewhere
those tests skip, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import typer

from services.browser import CHROMIUM_PATH_ENV, INSTALL_HINT, ci, find_chromium

ROOT = Path(__file__).resolve().parent.parent
LOG_PATH = ROOT / "var" / "chromium-install.log"
APT_PACKAGE = "chromium"
APT_TIMEOUT_SECONDS = 900
VERSION_TIMEOUT_SECONDS = 30

app = typer.Typer(add_completion=False, help=__doc__)


def browser_version(executable: str) -> str | None:
    """`<executable> --version`, or None when it does not run."""
    try:
        done = subprocess.run(  # noqa: S603 - our own binary path, no shell
            [executable, "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    # Debian's wrapper script may print a shell warning first; the version is the last line.
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else None


def can_apt_install() -> bool:
    """True when we are root and apt-get exists."""
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_install(log_path: Path = LOG_PATH) -> bool:
    """`apt-get update && apt-get install chromium`, non-interactive, output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Wait for a dpkg lock held by another apt run rather than failing at once.
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    steps = [
        ["apt-get", *lock, "update"],
        ["apt-get", *lock, "install", "-y", "--no-install-recommends", APT_PACKAGE],
    ]
    with log_path.open("a") as log:
        for step in steps:
            log.write(f"$ {' '.join(step)}\n")
            log.flush()
            try:
                done = subprocess.run(  # noqa: S603 - fixed argv, no shell
                    step,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    timeout=APT_TIMEOUT_SECONDS,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.write(f"failed: {exc}\n")
                return False
            if done.returncode != 0:
                return False
    return True


def ensure(*, install: bool = True) -> str | None:
    """A working Chromium's path, installing it when missing and allowed; None when there is none."""
    found = find_chromium()
    if found and browser_version(found):
        return found
    configured = os.environ.get(CHROMIUM_PATH_ENV, "").strip()
    if configured:  # an explicit choice: installing another browser would not change it
        typer.echo(f"{CHROMIUM_PATH_ENV}={configured} is not a working Chromium binary", err=True)
        return None
    if not install or not can_apt_install():
        return None
    typer.echo(f"Chromium not found: installing Debian's {APT_PACKAGE} with apt-get (log: {LOG_PATH})...")
    started = time.monotonic()
    if not apt_install():
        typer.echo(f"apt-get failed after {time.monotonic() - started:.0f} s; see {LOG_PATH}", err=True)
        return None
    found = find_chromium()
    if found and browser_version(found):
        typer.echo(f"Installed in {time.monotonic() - started:.0f} s.")
        return found
    typer.echo(f"apt-get succeeded but no working Chromium is on PATH; see {LOG_PATH}", err=True)
    return None


@app.command()
def main(
    install: bool = typer.Option(True, help="Install with apt-get when missing (root only)."),
) -> None:
    """Find (or install) the Chromium the browser tests drive."""
    found = ensure(install=install)
    if found:
        typer.echo(f"Browser tests use {found} ({browser_version(found)}).")
        return
    typer.echo(INSTALL_HINT, err=True)
    if ci():
        typer.echo("CI=true: no browser, so this run fails (the browser tests would fail too).", err=True)
        raise typer.Exit(1)
    typer.echo("The browser tests (pytest -m browser) will be skipped.", err=True)


if __name__ == "__main__":
    app()
