"""Admin users API: create (given or generated password), reset (old tokens and sessions end), deactivate and
reactivate with their guards, every change audited; the audit trail's filters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from core.container import Container
from domain.audit import Actor
from domain.users_admin import AccountGuard, NewUser
from models.enums import AuditOutcome, Role

ADMIN = "boss@clinic.test"
USERS = "/api/v1/admin/users"
NEW_PASSWORD = "a brand new password"


async def admin_headers(login: Callable[..., Any]) -> dict[str, str]:
    """Bearer headers of the admin ADMIN."""
    headers: dict[str, str] = await login(Role.ADMIN, ADMIN)
    return headers


async def token(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """The API's login."""
    return await client.post("/api/v1/auth/login", data={"username": email, "password": password})


async def bearer(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    """Bearer headers after a successful login."""
    response = await token(client, email, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    """POST a new account; its answer."""
    response = await client.post(USERS, headers=headers, json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def actions(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(actor, action, outcome) of stored audit records."""
    return [(r["actor"], r["action"], r["outcome"]) for r in records]


# ---- who may ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", USERS),
        ("POST", USERS),
        ("POST", f"{USERS}/{'a' * 24}/reset-password"),
        ("POST", f"{USERS}/{'a' * 24}/deactivate"),
        ("POST", f"{USERS}/{'a' * 24}/reactivate"),
    ],
)
async def test_only_admins_may_manage_users(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container, method: str, path: str
) -> None:
    staff = await login(Role.STAFF)
    body = {"email": "new@clinic.test"} if method == "POST" else None
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"
    denied = await client.request(method, path, headers=staff, json=body)
    assert denied.status_code == 403 and denied.json()["error"] == "insufficient_role"
    assert await container.repos.users.count() == 1  # only the staff member


# ---- create -------------------------------------------------------------------------------------------------------


async def test_an_admin_creates_a_staff_account_with_a_chosen_password_and_it_is_audited(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container
) -> None:
    headers = await admin_headers(login)
    answer = await create(client, headers, email="  New.Nurse@Clinic.test ", password=NEW_PASSWORD)
    assert answer["email"] == "new.nurse@clinic.test" and answer["role"] == "staff" and answer["is_active"]
    assert answer["generated_password"] is None and "password_hash" not in answer

    assert (await token(client, "new.nurse@clinic.test", NEW_PASSWORD)).status_code == 200
    listed = (await client.get(USERS, headers=headers)).json()
    assert [u["email"] for u in listed["items"]] == [ADMIN, "new.nurse@clinic.test"] and listed["total"] == 2

    records = await container.db.audit_log.find({"action": "users.create"}).to_list()
    assert actions(records) == [(ADMIN, "users.create", "success")]
    assert records[0]["resource"] == f"users/{answer['id']}" and records[0]["ip"]
    stored = await container.db.users.find_one({"_id": ObjectId(answer["id"])})
    assert stored is not None and stored["password_hash"].startswith("$argon2")
    everything = [await container.db[c].find().to_list() for c in await container.db.list_collection_names()]
    assert NEW_PASSWORD not in str(everything)  # the plain password is nowhere in the database


async def test_without_a_password_one_is_generated_returned_once_and_works(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container
) -> None:
    headers = await admin_headers(login)
    answer = await create(client, headers, email="desk@clinic.test", role="admin")
    generated = answer["generated_password"]
    assert answer["role"] == "admin" and isinstance(generated, str) and len(generated) >= 12
    assert (await token(client, "desk@clinic.test", generated)).status_code == 200
    assert generated not in str(await container.db.audit_log.find().to_list())
    listed = await client.get(USERS, headers=headers)
    assert generated not in listed.text and "generated_password" not in listed.text


async def test_a_duplicate_email_is_409_and_audited_as_a_failure(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container
) -> None:
    headers = await admin_headers(login)
    await create(client, headers, email="twin@clinic.test")
    again = await client.post(USERS, headers=headers, json={"email": "TWIN@clinic.test", "password": NEW_PASSWORD})
    assert again.status_code == 409 and again.json()["error"] == "email_taken"
    assert await container.repos.users.count({"email": "twin@clinic.test"}) == 1
    records = await container.db.audit_log.find({"action": "users.create"}).to_list()
    assert sorted(r["outcome"] for r in records) == ["failure", "success"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "short@clinic.test", "password": "elevenchars"}, "password"),
        ({"email": "not-an-address", "password": NEW_PASSWORD}, "email"),
        ({"email": "x@clinic.test", "role": "owner"}, "role"),
        ({"email": "x@clinic.test", "password": "p" * 1025}, "password"),
    ],
)
async def test_a_weak_password_or_bad_email_or_role_is_422_and_creates_nothing(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container, body: dict[str, Any], field: str
) -> None:
    headers = await admin_headers(login)
    response = await client.post(USERS, headers=headers, json=body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] in ("validation_error", "weak_password") and answer["detail"]
    assert any(field in f["field"] for f in answer["fields"])
    assert await container.repos.users.count() == 1


# ---- reset --------------------------------------------------------------------------------------------------------


async def test_a_reset_ends_old_tokens_and_console_sessions_and_lifts_a_lockout(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container, make_user: Any
) -> None:
    headers = await admin_headers(login)
    email, password = await make_user("nurse@clinic.test")
    user = await container.repos.users.get_by_email(email)
    assert user is not None
    old = await bearer(client, email, password)
    console = container.console_sessions()
    session = await console.sign_in(email, password, ip=None)
    for _ in range(5):
        await token(client, email, "wrong wrong wrong")
    assert (await token(client, email, password)).status_code == 429

    response = await client.post(f"{USERS}/{user.id}/reset-password", headers=headers, json={"password": NEW_PASSWORD})

    assert response.status_code == 200 and response.json()["generated_password"] is None
    me = await client.get("/api/v1/auth/me", headers=old)
    assert me.status_code == 401 and me.json()["error"] == "invalid_token"
    assert await container.repos.console_sessions.count({"user_id": ObjectId(user.id)}) == 0
    assert await console.resolve(session.token) is None
    assert (await token(client, email, password)).status_code == 401
    fresh = await bearer(client, email, NEW_PASSWORD)  # the lockout was lifted
    assert (await client.get("/api/v1/auth/me", headers=fresh)).status_code == 200
    records = await container.db.audit_log.find({"action": "users.reset_password"}).to_list()
    assert actions(records) == [(ADMIN, "users.reset_password", "success")]
    assert records[0]["resource"] == f"users/{user.id}"


async def test_a_session_opened_by_a_sign_in_racing_the_reset_does_not_survive_it(
    container: Container, make_user: Any
) -> None:
    email, password = await make_user("nurse@clinic.test")
    console = container.console_sessions()
    # The sign-in read the account before the reset landed; its session is written after the reset's purge.
    racing = await console.sign_in(email, password, ip=None)
    user = await container.repos.users.get_by_email(email)
    assert user is not None
    await container.repos.users.set_password(user.id, password_hash=user.password_hash, now=container.clock.now())
    assert await console.resolve(racing.token) is None


async def test_a_reset_without_a_password_generates_one_and_a_weak_one_is_refused(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container, make_user: Any
) -> None:
    headers = await admin_headers(login)
    email, password = await make_user("nurse@clinic.test")
    user = await container.repos.users.get_by_email(email)
    assert user is not None
    weak = await client.post(f"{USERS}/{user.id}/reset-password", headers=headers, json={"password": "too short"})
    assert weak.status_code == 422
    assert (await token(client, email, password)).status_code == 200  # nothing changed
    generated = (await client.post(f"{USERS}/{user.id}/reset-password", headers=headers, json={})).json()
    assert (await token(client, email, generated["generated_password"])).status_code == 200


async def test_unknown_and_malformed_user_ids(client: httpx.AsyncClient, login: Callable[..., Any]) -> None:
    headers = await admin_headers(login)
    for action in ("reset-password", "deactivate", "reactivate"):
        unknown = await client.post(f"{USERS}/{'a' * 24}/{action}", headers=headers, json={})
        assert unknown.status_code == 404 and unknown.json()["error"] == "user_not_found"
        malformed = await client.post(f"{USERS}/nope/{action}", headers=headers, json={})
        assert malformed.status_code == 422 and malformed.json()["error"] == "validation_error"


# ---- deactivate and reactivate ------------------------------------------------------------------------------------


async def test_a_deactivated_user_cannot_sign_in_and_their_tokens_and_sessions_end_at_once(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container, make_user: Any
) -> None:
    headers = await admin_headers(login)
    email, password = await make_user("leaver@clinic.test")
    user = await container.repos.users.get_by_email(email)
    assert user is not None
    old = await bearer(client, email, password)
    console = container.console_sessions()
    session = await console.sign_in(email, password, ip=None)

    response = await client.post(f"{USERS}/{user.id}/deactivate", headers=headers)

    assert response.status_code == 200 and response.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=old)).status_code == 401
    assert await container.repos.console_sessions.count({"user_id": ObjectId(user.id)}) == 0
    assert await console.resolve(session.token) is None
    assert (await token(client, email, password)).status_code == 401

    back = await client.post(f"{USERS}/{user.id}/reactivate", headers=headers)
    assert back.status_code == 200 and back.json()["is_active"] is True
    assert (await client.get("/api/v1/auth/me", headers=old)).status_code == 401  # old tokens stay ended
    assert (await token(client, email, password)).status_code == 200
    records = await container.db.audit_log.find({"action": {"$in": ["users.deactivate", "users.reactivate"]}}).to_list()
    assert actions(records) == [(ADMIN, "users.deactivate", "success"), (ADMIN, "users.reactivate", "success")]


async def test_an_admin_cannot_deactivate_themselves(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container
) -> None:
    headers = await admin_headers(login)
    me = await container.repos.users.get_by_email(ADMIN)
    assert me is not None
    response = await client.post(f"{USERS}/{me.id}/deactivate", headers=headers)
    assert response.status_code == 409 and response.json()["error"] == "cannot_deactivate_self"
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    record = await container.db.audit_log.find_one({"action": "users.deactivate"})
    assert record is not None and record["outcome"] == AuditOutcome.FAILURE.value


async def test_the_last_active_admin_cannot_be_deactivated(container: Container, make_user: Any) -> None:
    await make_user("first@clinic.test", role=Role.ADMIN)
    await make_user("second@clinic.test", role=Role.ADMIN)
    first = await container.repos.users.get_by_email("first@clinic.test")
    second = await container.repos.users.get_by_email("second@clinic.test")
    assert first is not None and second is not None
    users = container.users_admin()
    await users.deactivate(Actor("first@clinic.test", None), second.id)
    # The second admin's request was authorised before they were deactivated: it must not remove the last one.
    with pytest.raises(AccountGuard, match="last active admin"):
        await users.deactivate(Actor("second@clinic.test", None), first.id)
    assert (await users.user(first.id)).is_active


async def test_two_admins_deactivating_each_other_at_once_leave_one_active(
    container: Container, make_user: Any
) -> None:
    for name in ("first", "second"):
        await make_user(f"{name}@clinic.test", role=Role.ADMIN)
    first = await container.repos.users.get_by_email("first@clinic.test")
    second = await container.repos.users.get_by_email("second@clinic.test")
    assert first is not None and second is not None
    users = container.users_admin()
    results = await asyncio.gather(
        users.deactivate(Actor("first@clinic.test", None), second.id),
        users.deactivate(Actor("second@clinic.test", None), first.id),
        return_exceptions=True,
    )
    assert any(isinstance(r, AccountGuard) for r in results)
    assert await container.repos.users.count_active_admins() >= 1


async def test_the_domain_checks_email_and_password_too(container: Container) -> None:
    users = container.users_admin()
    actor = Actor(ADMIN, None)
    with pytest.raises(Exception, match="valid email"):
        await users.create(actor, NewUser(email="nobody"))
    with pytest.raises(Exception, match="at least 12"):
        await users.create(actor, NewUser(email="ok@clinic.test", password="short"))
    assert await container.repos.users.count() == 0


# ---- the audit trail's filters ------------------------------------------------------------------------------------

PATIENT = "65a000000000000000000001"
OTHER_PATIENT = "65a000000000000000000002"


async def seed_audit(container: Container) -> None:
    """Records around the Berlin day 2030-01-15 (UTC+1): it runs from 14 Jan 23:00 to 15 Jan 23:00 UTC."""
    rows = [
        ("nurse@clinic.test", "campaigns.read", PATIENT, datetime(2030, 1, 14, 22, 59, 59, tzinfo=UTC)),
        ("nurse@clinic.test", "patients.read", PATIENT, datetime(2030, 1, 14, 23, 0, tzinfo=UTC)),
        ("desk@clinic.test", "campaigns.list", None, datetime(2030, 1, 15, 12, 0, tzinfo=UTC)),
        ("desk@clinic.test", "campaigns.read", OTHER_PATIENT, datetime(2030, 1, 15, 22, 59, 59, tzinfo=UTC)),
        ("boss@clinic.test", "users.create", None, datetime(2030, 1, 15, 23, 0, tzinfo=UTC)),
    ]
    for actor, action, patient_id, at in rows:
        await container.repos.audit.record(actor=actor, action=action, resource="r", patient_id=patient_id, at=at)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "nurse@clinic.test"}, ["patients.read", "campaigns.read"]),
        ({"action": "campaigns.read"}, ["campaigns.read", "campaigns.read"]),
        ({"action": "campaigns.*"}, ["campaigns.read", "campaigns.list", "campaigns.read"]),
        ({"action": "campaigns.rea"}, []),  # exact unless it ends in *
        ({"patient_id": PATIENT}, ["patients.read", "campaigns.read"]),
        ({"from": "2030-01-15", "to": "2030-01-15"}, ["campaigns.read", "campaigns.list", "patients.read"]),
        ({"from": "2030-01-16"}, ["users.create"]),
        ({"to": "2030-01-14"}, ["campaigns.read"]),
        (
            {"actor": "desk@clinic.test", "action": "campaigns.*", "to": "2030-01-15"},
            ["campaigns.read", "campaigns.list"],
        ),
        ({"patient_id": PATIENT, "from": "2030-01-15"}, ["patients.read"]),
    ],
)
async def test_each_audit_filter_narrows_newest_first(
    client: httpx.AsyncClient,
    login: Callable[..., Any],
    container: Container,
    params: dict[str, str],
    expected: list[str],
) -> None:
    await seed_audit(container)
    headers = await admin_headers(login)
    response = await client.get("/api/v1/admin/audit", headers=headers, params={**params, "page_size": 200})
    assert response.status_code == 200, response.text
    items = [i for i in response.json()["items"] if i["resource"] == "r"]
    assert [i["action"] for i in items] == expected
    if "actor" in params or "patient_id" in params:
        assert response.json()["total"] == len(expected)


async def test_audit_pages_hold_their_size_and_total(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container
) -> None:
    await seed_audit(container)
    headers = await admin_headers(login)
    params: dict[str, str | int] = {"action": "campaigns.*", "page_size": 2}
    first = (await client.get("/api/v1/admin/audit", headers=headers, params=params)).json()
    second = (await client.get("/api/v1/admin/audit", headers=headers, params={**params, "page": 2})).json()
    assert first["total"] == second["total"] == 3
    assert [i["at"] for i in first["items"]] == ["2030-01-15T22:59:59Z", "2030-01-15T12:00:00Z"]
    assert [i["at"] for i in second["items"]] == ["2030-01-14T22:59:59Z"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"patient_id": "nope"}, "validation_error"),
        ({"from": "2030-01-16", "to": "2030-01-15"}, "invalid_range"),
        ({"from": "15.01.2030"}, "validation_error"),
        ({"action": "users.$where"}, "invalid_action"),
        ({"action": "*"}, "invalid_action"),
    ],
)
async def test_bad_audit_filters_are_422(
    client: httpx.AsyncClient, login: Callable[..., Any], params: dict[str, str], error: str
) -> None:
    headers = await admin_headers(login)
    response = await client.get("/api/v1/admin/audit", headers=headers, params=params)
    assert response.status_code == 422 and response.json()["error"] == error, response.text


async def test_an_action_prefix_matches_only_at_the_start(
    client: httpx.AsyncClient, login: Callable[..., Any], container: Container
) -> None:
    at = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
    for action in ("campaigns.read", "legacy.campaigns.read", "campaignsXread"):
        await container.repos.audit.record(actor="a@clinic.test", action=action, resource="r", at=at)
    headers = await admin_headers(login)
    response = await client.get("/api/v1/admin/audit", headers=headers, params={"action": "campaigns.*"})
    assert [i["action"] for i in response.json()["items"]] == ["campaigns.read"]
