"""The console's dashboard: the KPIs, conversion rates and charts of GET /api/v1/admin/dashboard-stats."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.console import HOME, ConsoleUser, console_page

router = APIRouter(include_in_schema=False)


@router.get(HOME, response_class=HTMLResponse)
async def dashboard(request: Request, user: ConsoleUser) -> HTMLResponse:
    """The console's start page (its figures come with the dashboard item)."""
    return console_page(request, "console/dashboard.html", user, "dashboard")
