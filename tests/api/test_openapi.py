"""The OpenAPI document tells the truth: the app's error body and codes, and the input constraints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from core.config import Settings
from core.phone import PHONE_INPUT_PATTERN
from main import create_app
from models.enums import Role
from services.gmail.fake_server import FakeGmailServer
from tests.support import staff_headers

ERROR_REF = {"$ref": "#/components/schemas/ErrorRead"}
NOT_A_DATABASE_ROUTE = {("get", "/"), ("get", "/api/v1/services")}
# Pub/Sub redelivers anything but a 2xx, so a malformed envelope is acknowledged (204) and dropped, never a 400.
MALFORMED_ACKNOWLEDGED = {("post", "/pubsub/push")}
BOUNDED_FORMATS = {"date", "date-time", "time", "email"}  # email-validator refuses addresses over 254 characters


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        resolved: dict[str, Any] = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return resolved
    return schema


def body_schema(document: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    content = document["paths"][path][method]["requestBody"]["content"]
    [media] = content.values()
    return resolve(document, media["schema"])


def param_schema(document: dict[str, Any], path: str, name: str, method: str = "get") -> dict[str, Any]:
    [param] = [p for p in document["paths"][path][method]["parameters"] if p["name"] == name]
    schema: dict[str, Any] = param["schema"]
    return schema


# ---- the error body and the codes -----------------------------------------------------------------------------


async def test_no_fastapi_validation_error_schema(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["ErrorRead"]["properties"]) == {"error", "detail", "fields"}
    assert schemas["ErrorRead"]["required"] == ["error", "detail"]


async def test_every_operation_documents_the_codes_it_can_answer(openapi: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in operations(openapi):
        codes = set(operation["responses"])
        expected = set()
        if operation.get("parameters") or operation.get("requestBody"):
            expected.add("422")
        if operation.get("requestBody"):
            expected.add("413")
            if (
                "application/json" in operation["requestBody"]["content"]
                and (method, path) not in MALFORMED_ACKNOWLEDGED
            ):
                expected.add("400")
        if operation.get("security"):
            expected.add("401")
        if (method, path) not in NOT_A_DATABASE_ROUTE:
            expected.add("503")
        if any("{" in segment for segment in path.split("/")):
            expected.add("404")
        if expected - codes:
            missing.append(f"{method.upper()} {path}: {sorted(expected - codes)}")
    assert missing == []


async def test_every_error_is_documented_as_the_app_error_body_in_json(openapi: dict[str, Any]) -> None:
    wrong = []
    for method, path, operation in operations(openapi):
        for code, response in operation["responses"].items():
            if int(code) >= 400 and response.get("content") != {"application/json": {"schema": ERROR_REF}}:
                wrong.append(f"{method.upper()} {path} {code}: {response.get('content')}")
    assert wrong == []


async def test_malformed_json_is_400_malformed_json(client: httpx.AsyncClient) -> None:
    for body in (b'{"name": "Alice",', b"\xff\xfe{}"):
        response = await client.post(
            "/api/v1/appointments/book", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
        assert response.json() == {"error": "malformed_json", "detail": "The request body is not valid JSON"}
    valid_but_incomplete = await client.post("/api/v1/appointments/book", json={"name": "Alice"})
    assert valid_but_incomplete.status_code == 422
    assert {"field": "email", "message": "Field required"} in valid_but_incomplete.json()["fields"]


# ---- Gmail not configured is an operator's state ---------------------------------------------------------------


async def test_gmail_not_configured_is_409(client: httpx.AsyncClient, login: Callable[..., Any]) -> None:
    response = await client.post("/gmail/watch/start", headers=await login(Role.STAFF))
    assert response.status_code == 409
    assert response.json()["error"] == "gmail_not_configured"


@pytest.fixture
async def gmail_app(
    make_settings: Callable[..., Settings], tmp_path: Path, mongo_uri: str, db_name: str
) -> AsyncIterator[tuple[FastAPI, Any]]:
    server = FakeGmailServer(email_address="desk@clinic.test")
    server.start()
    token = tmp_path / "token.json"
    credentials = {"token": "t", "refresh_token": "r", "client_id": "c", "client_secret": "s"}
    token.write_text(json.dumps({**credentials, "expiry": "2099-01-01T00:00:00Z", "type": "authorized_user"}))
    settings = make_settings(
        GMAIL_TOPIC_NAME="projects/p/topics/t",
        GOOGLE_TOKEN_FILE=str(token),
        GMAIL_API_BASE_URL=server.url,
        CLINIC_EMAIL="desk@clinic.test",
        GMAIL_MAINTENANCE_ENABLED=False,
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            yield app, server
    finally:
        server.stop()
        async with AsyncMongoClient[dict[str, Any]](mongo_uri) as cleanup:
            await cleanup.drop_database(db_name)


async def test_gmail_refusing_the_watch_is_502(gmail_app: tuple[FastAPI, Any]) -> None:
    app, gmail = gmail_app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        headers = await staff_headers(http, app.state.container)
        gmail.fail_next(status=403, route="watch", reason="forbidden")
        response = await http.post("/gmail/watch/start", headers=headers)
        assert response.status_code == 502
        assert response.json() == {"error": "gmail_failed", "detail": "Gmail refused or failed to start the watch"}
        assert (await http.post("/gmail/watch/start", headers=headers)).status_code == 200


# ---- constraints are in the schema -----------------------------------------------------------------------------


async def test_constraints_are_in_the_schema(openapi: dict[str, Any]) -> None:
    assert param_schema(openapi, "/api/v1/availability", "duration")["enum"] == [30, 45]
    booking = body_schema(openapi, "/api/v1/appointments/book")
    [duration] = [s for s in booking["properties"]["duration_minutes"]["anyOf"] if s.get("type") == "integer"]
    assert duration["enum"] == [30, 45]
    assert booking["properties"]["time"]["pattern"] == r"^([01]\d|2[0-3]):[0-5]\d$"
    e164 = r"^\+[1-9][0-9]{1,14}$"
    assert param_schema(openapi, "/api/v1/phone_booking_post", "number")["pattern"] == e164
    schemas = openapi["components"]["schemas"]
    # Patient phones may be typed in national form; they are stored as E.164 (core/phone.py).
    for model in ("PatientCreate", "TriggerPatient", "BookingCreate"):
        [phone] = [s for s in schemas[model]["properties"]["phone"]["anyOf"] if s.get("type") == "string"]
        assert phone["pattern"] == PHONE_INPUT_PATTERN, model
    for model in ("PatientCreate", "TriggerPatient"):
        assert [shape["required"] for shape in schemas[model]["anyOf"]] == [["email"], ["phone"]], model
    assert [shape["required"] for shape in schemas["CampaignCreate"]["anyOf"]] == [["patient_id"], ["patient"]]
    assert [shape["required"] for shape in schemas["TriggerRequest"]["anyOf"]] == [
        ["campaign_id"],
        ["patient", "campaign"],
    ]
    assert param_schema(openapi, "/api/v1/availability", "month").items() >= {"minimum": 1, "maximum": 12}.items()
    assert param_schema(openapi, "/api/v1/availability", "year").keys() >= {"minimum", "maximum"}
    for path in ("/api/v1/appointments", "/api/v1/admin/campaigns", "/api/v1/admin/handoffs", "/api/v1/admin/audit"):
        for name in ("page", "page_size"):
            assert param_schema(openapi, path, name).keys() >= {"minimum", "maximum"}, (path, name)
    status = param_schema(openapi, "/api/v1/admin/campaigns", "status")
    assert any("$ref" in s or "enum" in s for s in status["anyOf"])
    patch = body_schema(openapi, "/api/v1/appointments/{appointment_id}", "patch")
    assert set(patch["properties"]["status"]["enum"]) == {"completed", "no_show", "cancelled"}
    assert unbounded_strings(openapi) == []


def _unbounded_strings(document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Request string fields with neither a max length, nor an enum, pattern or format."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        schema = resolve(document, schema)
    found = []
    for option in schema.get("anyOf", []):
        found += _unbounded_strings(document, option, where, seen)
    for name, prop in schema.get("properties", {}).items():
        found += _unbounded_strings(document, prop, f"{where}.{name}", seen)
    if "items" in schema:
        found += _unbounded_strings(document, schema["items"], f"{where}[]", seen)
    bounded = schema.keys() & {"maxLength", "enum", "pattern", "const"} or schema.get("format") in BOUNDED_FORMATS
    if schema.get("type") == "string" and not bounded:
        found.append(where)
    return found


def unbounded_strings(document: dict[str, Any]) -> list[str]:
    """Every parameter and body field that is a string without a bound."""
    found = []
    for method, path, operation in operations(document):
        for param in operation.get("parameters", []):
            found += _unbounded_strings(document, param["schema"], f"{method} {path} {param['name']}", set())
        for media in operation.get("requestBody", {}).get("content", {}).values():
            found += _unbounded_strings(document, media["schema"], f"{method} {path} body", set())
    return found
