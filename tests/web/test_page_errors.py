"""Errors under the page paths are HTML pages (the API stays JSON); static assets; the weight of a first visit."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from db.embedded import EmbeddedMongo
from main import create_app
from tests.web.conftest import Clinic
from tests.web.pages import html_page, manage_token_of, read
from tests.web.test_book_page import form

FIRST_VISIT_BUDGET = 60 * 1024


async def test_unknown_paths_under_the_pages_are_html_404s(clinic: Clinic) -> None:
    token = manage_token_of(await clinic.http.post("/book", data=form()))
    for path in ("/book/extra", "/manage", f"/manage/{token}/nope", "/unsubscribe"):
        page = html_page(await clinic.http.get(path), 404)
        assert page.h1 == "Page not found" and "+49 30 1234567" in page.html, path
    missing = await clinic.http.get("/static/missing.css")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert read(missing.text).h1 == "Page not found"


async def test_a_wrong_method_on_a_page_is_an_html_405(clinic: Clinic) -> None:
    response = await clinic.http.delete("/book")
    assert "GET" in response.headers["allow"]
    html_page(response, 405)


async def test_a_form_over_the_body_limit_is_an_html_413_page_and_the_api_stays_json(clinic: Clinic) -> None:
    limit = clinic.container.settings.MAX_BODY_BYTES
    oversized = {"name": "x" * (limit + 1)}
    page = html_page(await clinic.http.post("/book", data=oversized), 413)
    assert page.h1 == "This form is too large" and "+49 30 1234567" in page.html
    api = await clinic.http.post("/api/v1/appointments/book", content=b"{" + b" " * limit + b"}")
    assert api.status_code == 413 and api.json()["error"] == "payload_too_large"


async def test_the_api_keeps_answering_json(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/nope", "/bookings", "/api/v1/appointments/manage/x"):
        response = await client.get(path)
        assert response.headers["content-type"] == "application/json", path
        assert response.json()["error"] in ("not_found", "validation_error", "invalid_manage_link"), path


async def test_a_database_outage_is_an_html_503_page(make_settings: Callable[..., Any], tmp_path: Path) -> None:
    server = EmbeddedMongo(tmp_path / "db", log_path=tmp_path / "db.log")
    uri = server.start()
    try:
        app = create_app(make_settings(MONGO_URI=uri, MONGO_TIMEOUT_MS=500, AVAILABILITY_CACHE_SECONDS=0))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            html_page(await http.get("/book"), 200)
            server.stop()
            for response in (await http.get("/book"), await http.post("/book", data=form())):
                page = html_page(response, 503)
                assert response.headers["retry-after"] == "5" and page.h1 == "Booking is not available right now"
            api = await http.get("/readyz")
            assert api.status_code == 503 and api.json()["error"] == "database_unavailable"
    finally:
        server.stop()


async def test_static_assets_are_cacheable_and_linked_by_content_hash(clinic: Clinic) -> None:
    page = read((await clinic.http.get("/book")).text)
    [css] = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.html)
    assert re.fullmatch(r"/static/site\.css\?v=[0-9a-f]{12}", css)
    response = await clinic.http.get(css)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    unhashed = await clinic.http.get("/static/site.css")
    assert unhashed.headers["cache-control"] == "public, max-age=3600"


async def test_a_first_visit_to_book_stays_under_60_kb(clinic: Clinic) -> None:
    page = await clinic.http.get("/book")
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert assets, "the page links its stylesheet"
    total = len(page.content) + sum([len((await clinic.http.get(url)).content) for url in assets])
    assert total <= FIRST_VISIT_BUDGET, total


async def test_every_page_is_free_of_inline_script_and_style(clinic: Clinic) -> None:
    """html_page checks CSP, no inline script/style/handlers, no third-party URLs, title, h1, heading order."""
    http = clinic.http
    token = manage_token_of(await http.post("/book", data=form()))
    seen = [
        html_page(await http.get("/book"), 200),
        html_page(await http.post("/book", data={"name": "", "email": "x"}), 422),
        html_page(await http.post("/book", data=form()), 409),
        html_page(await http.get(f"/manage/{token}?booked=1"), 200),
        html_page(await http.get(f"/manage/{token}/reschedule"), 200),
        html_page(await http.post(f"/manage/{token}/reschedule", data={}), 422),
        html_page(await http.get(f"/manage/{token}/cancel"), 200),
        html_page(await http.get("/manage/unknown-token-0123456789"), 404),
        html_page(await http.get("/book/nothing-here"), 404),
    ]
    titles = [p.title for p in seen]
    assert all(t.endswith(" \N{EN DASH} Riverside Dental") for t in titles) and len(set(titles)) >= 6
