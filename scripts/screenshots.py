"""`make screenshots`: PNGs of every patient and console page at phone and desktop size, in docs/screenshots/.

Starts an embedded SecantusDB in a temporary directory, seeds the demo dataset (so the day picker shows a
realistic week), serves the app on a loopback port and drives the system Chromium through each page: booking,
booking with a slot chosen, confirmation, manage, cancel confirm, reschedule, unsubscribe (and done), an error
page, and the staff console's pages (signed in as the demo admin through the sign-in form). A page that fails is
reported in the summary and the run goes on; `--strict` exits 1 when any did.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import typer

from core.config import Settings
from db.embedded import EmbeddedMongo
from domain.consent import unsubscribe_url
from main import create_app
from scripts.common import open_container
from scripts.seed_demo import DEMO_ADMIN_EMAIL, SECOND_DOCTOR, demo_admin_password, ensure_demo_admin, seed
from services.browser import INSTALL_HINT, VIEWPORTS, find_chromium, launch_options
from services.loopback import LiveServer, bind_loopback

if TYPE_CHECKING:
    from playwright.async_api import Page

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "screenshots"
DB_NAME = "screenshots"
DEMO_PATIENTS = 120
TIMEOUT_MS = 10_000
# One look for the README, whatever the developer's .env says.
DEMO_SETTINGS: dict[str, Any] = {
    "ENVIRONMENT": "development",
    "CLINIC_NAME": "Bright Smiles Dental",
    "CLINIC_PHONE": "+49 30 1234 5678",
    "CLINIC_ADDRESS": "Lindenstraße 12, 10969 Berlin",
    "CLINIC_EMAIL": "desk@brightsmiles.example",
    "CONSULTING_DOCTOR": "Dr. Smith",
    "CLINIC_DOCTORS": f"Dr. Smith,{SECOND_DOCTOR}",
    "TZ": "Europe/Berlin",
    "EMAIL_BACKEND": "disabled",
    "BOOKING_RATE_LIMIT_PER_IP": 0,
    "BOOKING_RATE_LIMIT_PER_EMAIL": 0,
    "RESCHEDULE_LIMIT_PER_DAY": 0,
    "LOG_LEVEL": "WARNING",
    "DOCS_ENABLED": False,
}
PATIENT_NAME = "Ada Example"
SLOT_NAME = re.compile(r"\b\d{1,2}[:.]\d{2}\b")
ERROR_PAGE = "error"
SUBMIT_NAME = re.compile(r"book|confirm", re.IGNORECASE)

app = typer.Typer(add_completion=False, help=__doc__)


@dataclass
class Shot:
    """One page at one viewport: where the PNG went and what happened."""

    page: str
    viewport: str
    path: Path | None
    note: str
    error_page: bool = False

    @property
    def ok(self) -> bool:
        """A PNG was written and the page answered 2xx (an error page: 4xx)."""
        return self.path is not None and self.note.startswith("HTTP 4" if self.error_page else "HTTP 2")


@dataclass
class Links:
    """Tokens of the demo appointment and patient the pages show."""

    manage_token: str | None
    unsubscribe_token: str | None
    notes: list[str]
    handoff_campaign_id: str | None = None  # a demo campaign waiting for staff, with its conversation
    handoff_patient_id: str | None = None  # that campaign's patient


def demo_settings(*, mongo_uri: str, base_url: str) -> Settings:
    """Settings of the screenshot run: demo branding, the embedded database, links to the loopback server."""
    values = {
        **DEMO_SETTINGS,
        "MONGO_URI": mongo_uri,
        "MONGO_DB_NAME": DB_NAME,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "PUBLIC_BASE_URL": base_url,
        "ALLOWED_ORIGINS": base_url,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def demo_links(settings: Settings, base_url: str) -> Links:
    """Book one appointment through the public API (its manage token) and sign the patient's unsubscribe token."""
    notes: list[str] = []
    zone = ZoneInfo(settings.TZ)
    email = "ada.example@example.com"
    manage_token: str | None = None
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        today = datetime.now(zone).date()
        for month, year in ((today.month, today.year), ((today.month % 12) + 1, today.year + (today.month == 12))):
            found = await http.get("/api/v1/availability", params={"month": month, "year": year})
            days = [d for d in found.json().get("days", []) if d["slots"]] if found.status_code == 200 else []
            if not days:
                continue
            # A few days out, so the cancel page is not inside the cancellation notice.
            day = days[min(len(days) - 1, 3)]
            body = {
                "name": PATIENT_NAME,
                "email": email,
                "date": day["date"],
                "time": day["slots"][len(day["slots"]) // 2],
                "duration_minutes": settings.services[0].duration_minutes,
                "service": settings.services[0].name,
            }
            booked = await http.post("/api/v1/appointments/book", json=body)
            if booked.status_code == 201:
                manage_token = booked.json()["manage_url"].rstrip("/").rsplit("/", 1)[-1]
                break
            notes.append(f"booking the demo appointment answered {booked.status_code}: {booked.text[:200]}")
    if manage_token is None:
        notes.append("no demo appointment: the manage pages show an unknown link")
    async with open_container(settings) as container:
        patient = await container.repos.patients.get_by_email(email)
        unsubscribe_token = None
        if patient is not None:
            unsubscribe_token = unsubscribe_url(settings, patient.id, now=container.clock.now()).rsplit("/", 1)[-1]
        waiting, _ = await container.repos.campaigns.handoffs(skip=0, limit=1)
    handoff = waiting[0].summary.campaign if waiting else None
    if handoff is None:
        notes.append("no demo handoff: the campaign, handoff and patient pages show a missing one")
    return Links(
        manage_token,
        unsubscribe_token,
        notes,
        handoff_campaign_id=handoff.id if handoff else None,
        handoff_patient_id=handoff.patient_id if handoff else None,
    )


async def _choose_slot(page: Page) -> str:
    """Click the first time slot (a button, radio or link named like 09:30)."""
    for role in ("button", "radio", "link"):
        slots = page.get_by_role(role, name=SLOT_NAME)
        if await slots.count():
            await slots.first.click()
            await page.wait_for_load_state()
            return f"chose a {role}"
    raise LookupError("no time slot on the page")


async def _book(page: Page, viewport: str) -> str:
    """Choose a slot a few days out, fill in the patient and submit: the page that follows is the confirmation."""
    days = page.locator("#calendar-table a")
    if await days.count() > 3:  # outside the cancellation notice, so the confirmation shows the manage buttons
        await days.nth(3).click()
        await page.wait_for_load_state()
    await _choose_slot(page)
    name = page.get_by_label(re.compile(r"\bname\b", re.IGNORECASE))
    email = page.get_by_label(re.compile("e-?mail", re.IGNORECASE))
    submit = page.get_by_role("button", name=SUBMIT_NAME)
    for what, locator in (("name field", name), ("email field", email), ("book button", submit)):
        if not await locator.count():
            raise LookupError(f"no {what} on the page")
    await name.first.fill(PATIENT_NAME)
    await email.first.fill(f"ada.{viewport}@example.com")
    await submit.last.click()
    await page.wait_for_load_state()
    return "booked"


async def _unsubscribe(page: Page, viewport: str) -> str:
    button = page.get_by_role("button", name=re.compile("unsubscribe", re.IGNORECASE))
    if not await button.count():
        raise LookupError("no unsubscribe button on the page")
    await button.first.click()
    await page.wait_for_load_state()
    return "clicked unsubscribe"


async def _console_sign_in(page: Page, _: str) -> str:
    """Sign in as the demo admin on the sign-in page; the form goes on to the page its `next` names."""
    await page.get_by_label("Email").fill(DEMO_ADMIN_EMAIL)
    await page.get_by_label("Password").fill(demo_admin_password())
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    if "/console/login" in page.url:
        raise LookupError("the demo admin could not sign in")
    return "signed in"


def signed_in(path: str) -> str:
    """The sign-in page that goes on to `path`."""
    return f"/console/login?{urlencode({'next': path})}"


def console_pages(links: Links) -> list[tuple[str, str]]:
    """(name, path) of each console page shot signed in."""
    campaign = f"/console/campaigns/{links.handoff_campaign_id or '0' * 24}"
    handoff = f"/console/handoffs/{links.handoff_campaign_id or '0' * 24}"
    return [
        ("console-dashboard", "/console"),
        ("console-campaigns", "/console/campaigns"),
        ("console-campaign", campaign),
        ("console-new-campaign", "/console/campaigns/new"),
        ("console-handoffs", "/console/handoffs"),
        ("console-handoff", handoff),
        ("console-appointments", "/console/appointments?view=week"),
        ("console-phone-booking", "/console/appointments/new"),
        ("console-patients", "/console/patients"),
        ("console-patient", f"/console/patients/{links.handoff_patient_id or '0' * 24}"),
        ("console-kb", "/console/kb"),
        ("console-kb-preview", "/console/kb/preview"),
        ("console-users", "/console/users"),
        ("console-audit", "/console/audit"),
    ]


Action = Callable[["Page", str], Awaitable[str]]


def pages(links: Links) -> list[tuple[str, str, Action | None]]:
    """(name, path, what to do before the screenshot) for each page; the one named `error` should answer 4xx."""
    manage = f"/manage/{links.manage_token or 'unknown-token-0000000000000000'}"
    unsubscribe = f"/unsubscribe/{links.unsubscribe_token or 'unknown-token-0000000000000000'}"

    async def choose(page: Page, _: str) -> str:
        return await _choose_slot(page)

    return [
        ("book", "/book", None),
        ("book-slot", "/book", choose),
        ("confirmation", "/book", _book),
        ("manage", manage, None),
        ("cancel", f"{manage}/cancel", None),
        ("reschedule", f"{manage}/reschedule", None),
        ("unsubscribe", unsubscribe, None),
        ("unsubscribed", unsubscribe, _unsubscribe),
        (ERROR_PAGE, "/manage/this-link-is-not-valid-00000000000000", None),
        ("console-login", "/console/login", None),
        *((name, signed_in(path), _console_sign_in) for name, path in console_pages(links)),
    ]


PAGE_NAMES = [name for name, _, _ in pages(Links(None, None, []))]


async def shoot(*, base_url: str, chromium: str, out: Path, links: Links, only: Collection[str] = ()) -> list[Shot]:
    """Open every page (or those named in `only`) at every viewport and write its PNG; a failure becomes a note."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import ViewportSize, async_playwright

    shots: list[Shot] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_options(chromium))
        try:
            for name, path, action in pages(links):
                if only and name not in only:
                    continue
                for viewport, size in VIEWPORTS.items():
                    context = await browser.new_context(
                        viewport=ViewportSize(width=size["width"], height=size["height"]),
                        base_url=base_url,
                        locale="en-US",
                    )
                    context.set_default_timeout(TIMEOUT_MS)
                    page = await context.new_page()
                    target = out / f"{name}-{viewport}.png"
                    note = ""
                    try:
                        response = await page.goto(path)
                        note = f"HTTP {response.status}" if response else "no response"
                        if action is not None:
                            done = await action(page, viewport)
                            status = await page.evaluate(
                                "performance.getEntriesByType('navigation')[0]?.responseStatus"
                            )
                            note = f"HTTP {status or '?'} ({done})"
                        await page.screenshot(path=str(target), full_page=True, animations="disabled")
                        shots.append(Shot(name, viewport, target, note, error_page=name == ERROR_PAGE))
                    except (PlaywrightError, LookupError) as exc:
                        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                        failed = f"{note + ': ' if note else ''}failed: {first_line}"
                        shots.append(Shot(name, viewport, None, failed, error_page=name == ERROR_PAGE))
                    finally:
                        await context.close()
        finally:
            await browser.close()
    return shots


def report(shots: list[Shot], out: Path) -> None:
    """Print one line per screenshot."""
    width = max(len(f"{s.page}-{s.viewport}") for s in shots)
    for shot in shots:
        mark = "ok  " if shot.ok else "WARN"
        where = shot.path.relative_to(ROOT) if shot.path and shot.path.is_relative_to(ROOT) else shot.path
        typer.echo(f"{mark} {f'{shot.page}-{shot.viewport}':<{width}}  {shot.note}  {where or '(no file)'}")
    good = sum(shot.ok for shot in shots)
    typer.echo(f"{good} of {len(shots)} pages rendered as expected (2xx; the error page 4xx); PNGs in {out}")


async def run(out: Path, chromium: str, patients: int, only: Collection[str] = ()) -> list[Shot]:
    """Embedded database, demo data, live app, screenshots; everything stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="medcampaign-screenshots-") as tmp:
        database = EmbeddedMongo(Path(tmp) / "data", log_path=Path(tmp) / "server.log")
        mongo_uri = database.start()
        try:
            sock = bind_loopback()
            base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            settings = demo_settings(mongo_uri=mongo_uri, base_url=base_url)
            started = time.monotonic()
            async with open_container(settings) as container:
                await seed(container, patients=patients, progress=False)
                await ensure_demo_admin(container)
            typer.echo(f"Seeded {patients} demo patients in {time.monotonic() - started:.1f} s.")
            server = LiveServer(create_app(settings), sock=sock)
            await asyncio.to_thread(server.start)
            try:
                links = await demo_links(settings, base_url)
                for note in links.notes:
                    typer.echo(f"note: {note}")
                return await shoot(base_url=base_url, chromium=chromium, out=out, links=links, only=only)
            finally:
                await asyncio.to_thread(server.stop)
        finally:
            database.stop()


@app.command()
def main(
    out: Path = typer.Option(DEFAULT_OUT, help="Directory for the PNGs."),
    patients: int = typer.Option(DEMO_PATIENTS, min=1, help="Demo patients to seed."),
    page: list[str] = typer.Option([], help="Only this page (repeatable): " + ", ".join(PAGE_NAMES) + "."),
    strict: bool = typer.Option(False, help="Exit 1 when any page failed or answered other than 2xx."),
) -> None:
    """Write <page>-<phone|desktop>.png for every patient and console page."""
    unknown = sorted(set(page) - set(PAGE_NAMES))
    if unknown:
        raise typer.BadParameter(f"unknown page(s) {', '.join(unknown)}; known: {', '.join(PAGE_NAMES)}")
    chromium = find_chromium()
    if chromium is None:
        typer.echo(INSTALL_HINT, err=True)
        raise typer.Exit(1)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    shots = asyncio.run(run(out, chromium, patients, only=page))
    for shot in shots:
        if shot.path is None:  # no stale PNG from an earlier run under this name
            (out / f"{shot.page}-{shot.viewport}.png").unlink(missing_ok=True)
    report(shots, out)
    if strict and not all(shot.ok for shot in shots):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
