"""`make screenshots` against the live app: every page at both sizes is either a PNG or a reported failure."""

from __future__ import annotations

from pathlib import Path

from domain.consent import unsubscribe_url
from scripts.screenshots import PAGE_NAMES, Links, shoot
from scripts.seed_demo import ensure_demo_admin
from services.browser import VIEWPORTS
from tests.browser.conftest import LiveApp

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def test_every_page_is_shot_or_reported_and_a_missing_page_does_not_stop_the_run(
    live_app: LiveApp, chromium_executable: str, tmp_path: Path
) -> None:
    container = live_app.container
    now = container.clock.now()
    patient, _ = await container.repos.patients.find_or_create(
        name="Ada Example", email="ada@example.com", phone=None, now=now
    )
    token = unsubscribe_url(live_app.settings, patient.id, now=now).rsplit("/", 1)[-1]
    links = Links(manage_token=None, unsubscribe_token=token, notes=[])
    await ensure_demo_admin(container)

    # A page that renders, one whose action fails today (no slot until /book exists), the error page and a console
    # page behind the sign-in form.
    only = ("book-slot", "unsubscribe", "error", "console-dashboard")
    shots = await shoot(base_url=live_app.url, chromium=chromium_executable, out=tmp_path, links=links, only=only)

    expected = {(name, viewport) for name in only for viewport in VIEWPORTS}
    assert sorted((s.page, s.viewport) for s in shots) == sorted(expected)
    for shot in shots:
        if shot.path is None:
            assert "failed:" in shot.note, shot
        else:
            assert shot.path == tmp_path / f"{shot.page}-{shot.viewport}.png"
            assert shot.path.read_bytes().startswith(PNG_SIGNATURE)
            assert shot.note.startswith("HTTP "), shot
    assert set(only) <= set(PAGE_NAMES)
    # An unknown manage link is the error page: it must render (whatever its look) at both sizes.
    assert {s.viewport for s in shots if s.page == "error" and s.path is not None} == set(VIEWPORTS)
    console = [s for s in shots if s.page == "console-dashboard"]
    assert all(s.ok and s.note == "HTTP 200 (signed in)" for s in console), console
