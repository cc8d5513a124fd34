"""Wires the pages into the app: their routes, /static, and HTML error pages on their paths."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from web.console import SignInRequired, sign_in_redirect
from web.errors import install_page_errors
from web.rendering import STATIC
from web.routes import (
    console,
    console_appointments,
    console_campaigns,
    console_dashboard,
    console_handoffs,
    console_kb,
    console_outbox,
    console_patients,
    console_users,
    patient,
    unsubscribe,
)

# Page assets are linked with a content hash (?v=...), so a linked version never changes.
HASHED_CACHE = "public, max-age=31536000, immutable"
UNHASHED_CACHE = "public, max-age=3600"


class StaticAssets(StaticFiles):
    """web/static with cache headers: long for hashed links, an hour otherwise."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file (or 304/404) with its Cache-Control."""
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            hashed = b"v=" in scope.get("query_string", b"")
            response.headers["Cache-Control"] = HASHED_CACHE if hashed else UNHASHED_CACHE
        return response


def install_web(app: FastAPI) -> None:
    """Add the patient pages and the staff console; call after the API's error handlers are installed."""
    app.include_router(patient.router)
    app.include_router(unsubscribe.router)
    consoles = (console, console_dashboard, console_campaigns, console_handoffs, console_appointments)
    for module in (*consoles, console_patients, console_kb, console_users, console_outbox):
        app.include_router(module.router)
    app.mount("/static", StaticAssets(directory=STATIC), name="static")
    install_page_errors(app)
    app.add_exception_handler(SignInRequired, sign_in_redirect)
