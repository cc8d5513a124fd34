"""The console's dashboard: the KPIs, conversion rates and charts of GET /api/v1/admin/dashboard-stats."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import DashboardServiceDep
from web.console import HOME, ConsoleUser, console_page
from web.dashboard import ViewCache

router = APIRouter(include_in_schema=False)
views = ViewCache()


@router.get(HOME, response_class=HTMLResponse)
async def dashboard(request: Request, user: ConsoleUser, dashboard: DashboardServiceDep) -> HTMLResponse:
    """The console's start page: the same snapshot as the API's dashboard-stats, with links to the lists behind it."""
    stats = await dashboard.stats()
    return console_page(
        request, "console/dashboard.html", user, "dashboard", views.view(stats, dashboard.settings.zone)
    )
