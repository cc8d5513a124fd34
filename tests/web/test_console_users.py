"""The console's users and audit pages (admins only): create, reset, deactivate/reactivate with their guards and
the sessions they end, staff 403, CSRF 403, and the audit viewer's filters."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId
from fastapi import FastAPI

from core.container import Container
from models.enums import Role
from models.system import User
from tests.api.test_admin_users import OTHER_PATIENT, PATIENT, seed_audit
from tests.web.console import PASSWORD, sign_in, signed_in
from tests.web.pages import html_page

ADMIN = "boss@clinic.test"
NURSE = "nurse@clinic.test"
USERS = "/console/users"
NEW_PASSWORD = "a brand new password"
_GENERATED = re.compile(r'id="generated-password">([^<]+)</code>')
_AUDIT_ROW = re.compile(r"<tr>\s*<td>[^<]*</td>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>")


@pytest.fixture
async def other(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser: its own cookies."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


async def admin(client: httpx.AsyncClient, container: Container) -> str:
    """Sign `client` in as the admin ADMIN; the CSRF token."""
    return await signed_in(client, container, ADMIN, role=Role.ADMIN)


async def account(container: Container, email: str) -> User:
    """The stored account."""
    found = await container.repos.users.get_by_email(email)
    assert found is not None
    return found


def generated_password(response: httpx.Response) -> str:
    """The one-time password a page shows."""
    found = _GENERATED.search(response.text)
    assert found, response.text[:2000]
    return html.unescape(found.group(1))


async def sessions_of(container: Container, user: User) -> int:
    """How many console sessions the user has."""
    return await container.repos.console_sessions.count({"user_id": ObjectId(user.id)})


# ---- who may ------------------------------------------------------------------------------------------------------


async def test_staff_get_the_403_page_on_every_users_page_and_change_nothing(
    client: httpx.AsyncClient, container: Container, make_user: Any
) -> None:
    await signed_in(client, container, ADMIN, role=Role.ADMIN)
    target = await account(container, ADMIN)
    client.cookies.clear()
    csrf = await signed_in(client, container, NURSE)
    dashboard = html_page(await client.get("/console"), 200)
    assert "nav-users" not in dashboard.ids and "nav-audit" not in dashboard.ids
    for path in (USERS, f"{USERS}/new", f"{USERS}/{target.id}", f"{USERS}/{target.id}/deactivate", "/console/audit"):
        page = html_page(await client.get(path), 403)
        assert page.h1 == "Not allowed" and "admin role" in page.html
    posts = {
        f"{USERS}/new": {"email": "sneaky@clinic.test", "role": "admin", "password_choice": "generate"},
        f"{USERS}/{target.id}/reset-password": {"password_choice": "set", "password": NEW_PASSWORD},
        f"{USERS}/{target.id}/deactivate": {},
    }
    for path, data in posts.items():
        html_page(await client.post(path, data={**data, "csrf_token": csrf}), 403)
    assert await container.repos.users.count() == 2
    assert (await account(container, ADMIN)).is_active and await sessions_of(container, target) == 1
    assert await container.repos.audit.count({"action": {"$regex": "^users\\."}}) == 0


async def test_admin_forms_without_their_csrf_token_are_refused_and_change_nothing(
    client: httpx.AsyncClient, container: Container, make_user: Any
) -> None:
    await admin(client, container)
    email, _ = await make_user(NURSE)
    nurse = await account(container, email)
    posts = {
        f"{USERS}/new": {"email": "new@clinic.test", "role": "staff", "password_choice": "generate"},
        f"{USERS}/{nurse.id}/reset-password": {"password_choice": "set", "password": NEW_PASSWORD},
        f"{USERS}/{nurse.id}/deactivate": {},
    }
    for path, data in posts.items():
        for token in ({}, {"csrf_token": "forged"}):
            page = html_page(await client.post(path, data={**data, **token}), 403)
            assert page.h1 == "Not allowed"
    assert await container.repos.users.count() == 2
    assert (await account(container, NURSE)).password_hash == nurse.password_hash
    assert (await account(container, NURSE)).is_active


# ---- create -------------------------------------------------------------------------------------------------------


async def test_an_admin_creates_a_staff_user_whose_generated_password_is_shown_once_and_works(
    client: httpx.AsyncClient, other: httpx.AsyncClient, container: Container
) -> None:
    csrf = await admin(client, container)
    users = html_page(await client.get(USERS), 200)
    assert users.h1 == "Users" and users.ids["nav-users"]["aria-current"] == "page"
    form = html_page(await client.get(f"{USERS}/new"), 200)
    assert (
        form.ids["password-generate"].get("checked") is not None and form.ids["role-staff"].get("checked") is not None
    )

    response = await client.post(
        f"{USERS}/new",
        data={"email": "New@Clinic.test", "role": "staff", "password_choice": "generate", "csrf_token": csrf},
    )

    page = html_page(response, 200)
    assert page.h1 == "Account created: new@clinic.test"
    password = generated_password(response)
    assert len(password) >= 12
    created = await account(container, "new@clinic.test")
    assert created.role == Role.STAFF and created.is_active
    assert (await sign_in(other, "new@clinic.test", password)).status_code == 303
    # Shown once: neither the list nor the user's page carries it.
    for path in (USERS, f"{USERS}/{created.id}"):
        assert password not in (await client.get(path)).text
    assert password not in str(await container.db.audit_log.find().to_list())
    record = await container.db.audit_log.find_one({"action": "users.create"})
    assert record is not None and record["actor"] == ADMIN and record["resource"] == f"users/{created.id}"


async def test_an_admin_may_type_the_password_instead(
    client: httpx.AsyncClient, other: httpx.AsyncClient, container: Container
) -> None:
    csrf = await admin(client, container)
    data = {"email": "desk@clinic.test", "role": "admin", "password_choice": "set", "password": NEW_PASSWORD}
    response = await client.post(f"{USERS}/new", data={**data, "csrf_token": csrf})
    created = await account(container, "desk@clinic.test")
    assert response.status_code == 303 and response.headers["location"] == f"{USERS}/{created.id}?done=created"
    page = html_page(await client.get(response.headers["location"]), 200)
    assert page.ids["notice"] and page.h1 == "User desk@clinic.test" and NEW_PASSWORD not in page.html
    assert created.role == Role.ADMIN
    assert (await sign_in(other, "desk@clinic.test", NEW_PASSWORD)).status_code == 303


async def test_a_duplicate_email_is_a_409_page_and_a_bad_form_a_422_page(
    client: httpx.AsyncClient, container: Container, make_user: Any
) -> None:
    csrf = await admin(client, container)
    await make_user(NURSE)
    base = {"role": "staff", "password_choice": "generate", "csrf_token": csrf}
    taken = html_page(await client.post(f"{USERS}/new", data={**base, "email": "NURSE@clinic.test"}), 409)
    assert "already exists" in taken.html and taken.value("email") == "NURSE@clinic.test"
    assert taken.title.startswith("Error:")
    for data, field, words in (
        ({"email": "not-an-address"}, "email", "valid email"),
        ({"email": ""}, "email", "Please enter the email"),
        ({"email": "ok@clinic.test", "role": "owner"}, "role", "staff or admin"),
        ({"email": "ok@clinic.test", "password_choice": "set", "password": "short"}, "password", "at least 12"),
        ({"email": "ok@clinic.test", "password_choice": "set", "password": ""}, "password", "enter the password"),
        ({"email": "ok@clinic.test", "password_choice": "maybe"}, "password_choice", "choose whether"),
    ):
        page = html_page(await client.post(f"{USERS}/new", data={**base, **data}), 422)
        assert page.ids[f"{field}-error"] and words in page.html, (data, page.html[:3000])
        assert page.value("password") == ""  # a typed password is never sent back
    assert await container.repos.users.count() == 2


# ---- reset --------------------------------------------------------------------------------------------------------


async def test_a_reset_shows_the_new_password_once_and_ends_the_users_sessions(
    client: httpx.AsyncClient, other: httpx.AsyncClient, container: Container
) -> None:
    csrf = await admin(client, container)
    await signed_in(other, container, NURSE)
    nurse = await account(container, NURSE)
    assert await sessions_of(container, nurse) == 1

    response = await client.post(
        f"{USERS}/{nurse.id}/reset-password", data={"password_choice": "generate", "csrf_token": csrf}
    )

    assert html_page(response, 200).h1 == f"Password reset: {NURSE}"
    password = generated_password(response)
    assert await sessions_of(container, nurse) == 0
    ended = await other.get("/console")
    assert ended.status_code == 303 and ended.headers["location"] == "/console/login"
    assert (await sign_in(other, NURSE, PASSWORD)).status_code == 401
    assert (await sign_in(other, NURSE, password)).status_code == 303
    record = await container.db.audit_log.find_one({"action": "users.reset_password"})
    assert record is not None and record["actor"] == ADMIN and record["outcome"] == "success"


async def test_a_typed_reset_redirects_and_a_weak_one_is_a_422_page(
    client: httpx.AsyncClient, other: httpx.AsyncClient, container: Container, make_user: Any
) -> None:
    csrf = await admin(client, container)
    await make_user(NURSE)
    nurse = await account(container, NURSE)
    path = f"{USERS}/{nurse.id}/reset-password"
    weak = html_page(
        await client.post(path, data={"password_choice": "set", "password": "short", "csrf_token": csrf}), 422
    )
    assert weak.ids["password-error"] and weak.ids["password-set"].get("checked") is not None
    assert (await account(container, NURSE)).password_hash == nurse.password_hash
    done = await client.post(path, data={"password_choice": "set", "password": NEW_PASSWORD, "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"{USERS}/{nurse.id}?done=reset"
    assert (await sign_in(other, NURSE, NEW_PASSWORD)).status_code == 303


# ---- deactivate and reactivate ------------------------------------------------------------------------------------


async def test_deactivating_asks_first_then_blocks_sign_in_and_ends_sessions_and_reactivating_restores(
    client: httpx.AsyncClient, other: httpx.AsyncClient, container: Container
) -> None:
    csrf = await admin(client, container)
    await signed_in(other, container, NURSE)
    nurse = await account(container, NURSE)
    user_page = html_page(await client.get(f"{USERS}/{nurse.id}"), 200)
    assert user_page.ids["deactivate-link"]["href"] == f"{USERS}/{nurse.id}/deactivate"

    confirm = html_page(await client.get(f"{USERS}/{nurse.id}/deactivate"), 200)
    assert confirm.h1 == f"Deactivate {NURSE}?" and confirm.ids["confirm-form"]["method"] == "post"
    assert (await account(container, NURSE)).is_active  # asking changes nothing

    response = await client.post(f"{USERS}/{nurse.id}/deactivate", data={"csrf_token": csrf})

    assert response.status_code == 303 and response.headers["location"] == f"{USERS}/{nurse.id}?done=deactivated"
    assert not (await account(container, NURSE)).is_active and await sessions_of(container, nurse) == 0
    ended = await other.get("/console/campaigns")
    assert ended.status_code == 303 and ended.headers["location"].startswith("/console/login")
    assert (await sign_in(other, NURSE)).status_code == 401
    after = html_page(await client.get(response.headers["location"]), 200)
    assert after.ids["reactivate-link"] and "Deactivated" in after.html

    assert html_page(await client.get(f"{USERS}/{nurse.id}/reactivate"), 200).h1 == f"Reactivate {NURSE}?"
    back = await client.post(f"{USERS}/{nurse.id}/reactivate", data={"csrf_token": csrf})
    assert back.status_code == 303 and back.headers["location"].endswith("?done=reactivated")
    assert (await sign_in(other, NURSE)).status_code == 303
    records = await container.db.audit_log.find({"action": {"$regex": "^users\\.(de|re)activate"}}).to_list()
    assert [(r["actor"], r["action"]) for r in records] == [(ADMIN, "users.deactivate"), (ADMIN, "users.reactivate")]


async def test_an_admin_cannot_deactivate_their_own_account(client: httpx.AsyncClient, container: Container) -> None:
    csrf = await admin(client, container)
    me = await account(container, ADMIN)
    own = html_page(await client.get(f"{USERS}/{me.id}"), 200)
    assert own.ids["own-account"] and "deactivate-link" not in own.ids
    refused = html_page(await client.post(f"{USERS}/{me.id}/deactivate", data={"csrf_token": csrf}), 409)
    assert "cannot deactivate your own account" in refused.html and refused.ids["form-alert"]
    assert (await account(container, ADMIN)).is_active
    assert html_page(await client.get("/console"), 200).h1 == "Dashboard"  # still signed in


async def test_unknown_or_malformed_user_addresses_are_404_pages(
    client: httpx.AsyncClient, container: Container
) -> None:
    csrf = await admin(client, container)
    for path in (f"{USERS}/{'a' * 24}", f"{USERS}/nope", f"{USERS}/{'a' * 24}/deactivate"):
        html_page(await client.get(path), 404)
    html_page(await client.post(f"{USERS}/{'a' * 24}/deactivate", data={"csrf_token": csrf}), 404)
    html_page(await client.get(f"{USERS}?page=abc"), 422)


# ---- the audit viewer ---------------------------------------------------------------------------------------------


def audit_actions(response: httpx.Response) -> list[str]:
    """The action column of the audit table, top to bottom, without the test's own sign-in records."""
    page = html_page(response, 200)
    if "audit-table" not in page.ids:
        return []
    return [a for a in _AUDIT_ROW.findall(response.text) if not a.startswith("console.")]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["users.create", "campaigns.read", "campaigns.list", "patients.read", "campaigns.read"]),
        ({"actor": "nurse@clinic.test"}, ["patients.read", "campaigns.read"]),
        ({"action": "campaigns.read"}, ["campaigns.read", "campaigns.read"]),
        ({"action": "campaigns.*"}, ["campaigns.read", "campaigns.list", "campaigns.read"]),
        ({"patient_id": PATIENT}, ["patients.read", "campaigns.read"]),
        ({"patient_id": OTHER_PATIENT}, ["campaigns.read"]),
        # The Berlin day 15 January 2030: from 14 Jan 23:00 UTC up to (not including) 15 Jan 23:00 UTC.
        ({"from": "2030-01-15", "to": "2030-01-15"}, ["campaigns.read", "campaigns.list", "patients.read"]),
        ({"from": "2030-01-16"}, ["users.create"]),
        ({"to": "2030-01-14"}, ["campaigns.read"]),
    ],
)
async def test_each_audit_filter_narrows_the_page(
    client: httpx.AsyncClient, container: Container, params: dict[str, str], expected: list[str]
) -> None:
    await admin(client, container)
    await seed_audit(container)
    response = await client.get("/console/audit", params=params)
    assert audit_actions(response) == expected
    page = html_page(response, 200)
    for name, value in params.items():
        assert page.value(name) == value  # the form shows what it filters by


async def test_bad_audit_filters_are_a_422_page_saying_what_is_wrong(
    client: httpx.AsyncClient, container: Container
) -> None:
    await admin(client, container)
    for params, field in (
        ({"from": "15.01.2030"}, "from"),
        ({"from": "2030-01-16", "to": "2030-01-15"}, "to"),
        ({"patient_id": "nope"}, "patient_id"),
        ({"action": "users.$where"}, "action"),
        ({"page": "0"}, "page"),
    ):
        page = html_page(await client.get("/console/audit", params=params), 422)
        assert page.ids["form-alert"] and "audit-table" not in page.ids, params
        if field != "page":
            assert page.ids[f"{field}-error"], params


async def test_the_audit_pager_keeps_the_filters(client: httpx.AsyncClient, container: Container) -> None:
    await admin(client, container)
    at = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
    for _ in range(51):
        await container.repos.audit.record(actor="bulk@clinic.test", action="bulk.run", resource="r", at=at)
    first = await client.get("/console/audit", params={"action": "bulk.*"})
    page = html_page(first, 200)
    assert len(audit_actions(first)) == 50 and "51" in page.html
    assert page.ids["page-next"]["href"] == "/console/audit?action=bulk.%2A&page=2"
    second = await client.get(page.ids["page-next"]["href"])
    assert audit_actions(second) == ["bulk.run"]
