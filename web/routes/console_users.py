"""The console's users and audit log (admins only): create staff, reset a password, deactivate, the audit viewer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ClientIP, UserAdminServiceDep
from core.errors import Conflict, NotFound, Unprocessable
from core.security import MIN_PASSWORD_LENGTH
from domain.console_sessions import SignedIn
from domain.users_admin import MAX_ACTION_LENGTH, AuditFilters, Credentials, EmailTaken, NewUser, UserAdminService
from models.enums import Role
from models.system import User
from schemas.auth import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH
from web.console import ConsoleAdmin, ConsoleForm, console_page, is_id, pager, signed_in_admin
from web.forms import SEE_OTHER, FormText, bounded, sentence
from web.picker import parse_day
from web.routes.console_campaigns import ID_BOUND, actor_of, clinic_time

router = APIRouter(include_in_schema=False)

LIST = "/console/users"
NEW = "/console/users/new"
AUDIT = "/console/audit"
PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
MAX_PAGE = 10_000
_PAGE = re.compile(r"^[0-9]{1,5}$")

ROLE_LABELS = {Role.STAFF: "Staff", Role.ADMIN: "Admin"}
DONE_NOTICES = {
    "created": "The account is created with the password you chose.",
    "reset": "The password is changed with the one you chose; the user's sessions have ended.",
    "deactivated": "The account is deactivated: the user is signed out and cannot sign in.",
    "reactivated": "The account is active again: the user can sign in with their password.",
}
Access = Literal["deactivate", "reactivate"]
ACCESS = {
    "deactivate": {
        "title": "Deactivate",
        "explain": "They are signed out at once and cannot sign in until the account is reactivated.",
        "button": "danger",
        "done": "deactivated",
    },
    "reactivate": {
        "title": "Reactivate",
        "explain": "They can sign in again with their current password.",
        "button": "primary",
        "done": "reactivated",
    },
}


def user_id_path(user_id: str) -> str:
    """The path's user id when it has an id's shape (else the 404 page, before anything is read)."""
    if not is_id(user_id):
        raise NotFound("There is no user at this address.", error="user_not_found")
    return user_id


UserId = Annotated[str, Depends(user_id_path)]


async def admin_form(user: ConsoleForm) -> SignedIn:
    """An admin's console POST: the CSRF token first, then the role (403 page for either)."""
    return await signed_in_admin(user)


AdminForm = Annotated[SignedIn, Depends(admin_form)]


def user_path(user_id: str) -> str:
    """The user's page."""
    return f"{LIST}/{user_id}"


def read_page(raw: str | None) -> int | None:
    """The page number of a list's address, or None when it is not a whole number from 1 to MAX_PAGE."""
    text = (raw or "1").strip()
    number = int(text) if _PAGE.match(text) else 0
    return number if 1 <= number <= MAX_PAGE else None


PAGE_ERROR = f"The page must be a whole number from 1 to {MAX_PAGE}."


def user_card(user: User, users: UserAdminService) -> dict[str, Any]:
    """An account as the console shows it, times in clinic time."""
    zone = users.settings.zone
    return {
        "id": user.id,
        "href": user_path(user.id),
        "email": user.email,
        "role": ROLE_LABELS[user.role],
        "active": user.is_active,
        "status": "Active" if user.is_active else "Deactivated",
        "created": clinic_time(user.created_at, zone),
        "updated": clinic_time(user.updated_at, zone),
    }


def password_context(choice: str) -> dict[str, Any]:
    """What the password choice of the new-user and reset forms needs (the typed password is never shown again)."""
    return {"choice": choice if choice in ("generate", "set") else "generate", "min_length": MIN_PASSWORD_LENGTH}


def chosen_password(choice: str, password: str, errors: dict[str, str]) -> str | None:
    """The password the admin typed (None: generate one); a missing choice or password is an error."""
    if choice == "set":
        if not password:
            errors["password"] = "Please enter the password, or choose to have one generated."  # noqa: S105
        return password[: MAX_PASSWORD_LENGTH + 1]
    if choice != "generate":
        errors["password_choice"] = "Please choose whether to generate a password or set one."  # noqa: S105
    return None


def show_password(
    request: Request, user: SignedIn, users: UserAdminService, credentials: Credentials, *, created: bool
) -> HTMLResponse:
    """The generated password, shown this once (the page is not stored)."""
    context = {
        "account": user_card(credentials.user, users),
        "password": credentials.generated_password,
        "created": created,
    }
    return console_page(request, "console/user_password.html", user, "users", context)


# ---- the list and a new account ---------------------------------------------------------------------------------


@router.get(LIST, response_class=HTMLResponse)
async def users_list(request: Request, user: ConsoleAdmin, users: UserAdminServiceDep) -> HTMLResponse:
    """Every staff account by email, 25 a page."""
    page = read_page(request.query_params.get("page"))
    context: dict[str, Any] = {"rows": [], "pager": None, "errors": {}}
    if page is None:
        context["errors"] = {"page": PAGE_ERROR}
        return console_page(request, "console/users.html", user, "users", context, status_code=422)
    items, total = await users.list_users(page=page, page_size=PAGE_SIZE)
    context["rows"] = [user_card(u, users) for u in items]
    context["pager"] = pager(request, page=page, page_size=PAGE_SIZE, total=total)
    return console_page(request, "console/users.html", user, "users", context)


@dataclass
class NewUserForm:
    """The new-account form as typed (bounded, for redisplay) and what is wrong with it."""

    email: str = ""
    role: str = Role.STAFF.value
    password_choice: str = "generate"  # noqa: S105 - how the password is made, not a password
    errors: dict[str, str] = field(default_factory=dict)


def render_new(
    request: Request, user: SignedIn, form: NewUserForm, *, message: str | None = None, status_code: int = 200
) -> HTMLResponse:
    """The new-account form with what was entered (never the password)."""
    context = {"form": form, "roles": ROLE_LABELS, "message": message, **password_context(form.password_choice)}
    return console_page(request, "console/user_new.html", user, "users", context, status_code=status_code)


@router.get(NEW, response_class=HTMLResponse)
async def new_user_page(request: Request, user: ConsoleAdmin) -> HTMLResponse:
    """The form to create a staff or admin account."""
    return render_new(request, user, NewUserForm())


@router.post(NEW, response_class=HTMLResponse)
async def new_user(
    request: Request,
    user: AdminForm,
    users: UserAdminServiceDep,
    ip: ClientIP,
    email: FormText = "",
    role: FormText = "",
    password_choice: FormText = "",
    password: FormText = "",
) -> Response:
    """Create the account through the API's use case: a generated password is shown once, else its page (303)."""
    form = NewUserForm(email=bounded(email, MAX_EMAIL_LENGTH), role=bounded(role, 20), password_choice=password_choice)
    chosen_role = next((r for r in Role if r.value == form.role), None)
    if chosen_role is None:
        form.errors["role"] = "Please choose the role: staff or admin."
    if not form.email:
        form.errors["email"] = "Please enter the email address the user signs in with."
    typed = chosen_password(password_choice, password, form.errors)
    if form.errors or chosen_role is None:
        return render_new(request, user, form, status_code=422)
    try:
        credentials = await users.create(
            actor_of(user, ip), NewUser(email=form.email, role=chosen_role, password=typed)
        )
    except EmailTaken as exc:
        return render_new(request, user, form, message=sentence(exc.detail), status_code=409)
    except Unprocessable as exc:
        form.errors[exc.field or "email"] = sentence(exc.detail)
        return render_new(request, user, form, status_code=422)
    if credentials.generated_password:
        return show_password(request, user, users, credentials, created=True)
    return RedirectResponse(f"{user_path(credentials.user.id)}?done=created", status_code=SEE_OTHER)


# ---- one account ------------------------------------------------------------------------------------------------


async def render_user(
    request: Request,
    user: SignedIn,
    users: UserAdminService,
    user_id: str,
    *,
    done: str | None = None,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    choice: str = "generate",
    status_code: int = 200,
) -> HTMLResponse:
    """An account's page: its details, the password reset and the access actions."""
    account = await users.user(user_id)
    context = {
        "account": user_card(account, users),
        "is_self": account.email == user.user.email,
        "done_notice": DONE_NOTICES.get(done or ""),
        "message": message,
        "errors": errors or {},
        **password_context(choice),
    }
    return console_page(request, "console/user.html", user, "users", context, status_code=status_code)


@router.get(LIST + "/{user_id}", response_class=HTMLResponse)
async def user_page(
    request: Request, user_id: UserId, user: ConsoleAdmin, users: UserAdminServiceDep, done: str | None = None
) -> HTMLResponse:
    """One account; `done` names what just happened."""
    return await render_user(request, user, users, user_id, done=done)


@router.post(LIST + "/{user_id}/reset-password", response_class=HTMLResponse)
async def reset_password(
    request: Request,
    user_id: UserId,
    user: AdminForm,
    users: UserAdminServiceDep,
    ip: ClientIP,
    password_choice: FormText = "",
    password: FormText = "",
) -> Response:
    """A new password (generated and shown once, or typed); the user's sessions end."""
    errors: dict[str, str] = {}
    typed = chosen_password(password_choice, password, errors)
    credentials = None
    if not errors:
        try:
            credentials = await users.reset_password(actor_of(user, ip), user_id, typed)
        except Unprocessable as exc:
            errors[exc.field or "password"] = sentence(exc.detail)
    if credentials is None:
        return await render_user(request, user, users, user_id, errors=errors, choice=password_choice, status_code=422)
    if credentials.generated_password:
        return show_password(request, user, users, credentials, created=False)
    return RedirectResponse(f"{user_path(user_id)}?done=reset", status_code=SEE_OTHER)


@router.get(LIST + "/{user_id}/{access}", response_class=HTMLResponse)
async def confirm_access(
    request: Request, user_id: UserId, access: Access, user: ConsoleAdmin, users: UserAdminServiceDep
) -> HTMLResponse:
    """The confirm step before deactivating or reactivating an account."""
    account = await users.user(user_id)
    context = {"account": user_card(account, users), "access": access, **ACCESS[access]}
    return console_page(request, "console/user_confirm.html", user, "users", context)


@router.post(LIST + "/{user_id}/{access}", response_class=HTMLResponse)
async def change_access(
    request: Request, user_id: UserId, access: Access, user: AdminForm, users: UserAdminServiceDep, ip: ClientIP
) -> Response:
    """Deactivate (signed out at once) or reactivate; refused for oneself or the last admin (409 page)."""
    actor = actor_of(user, ip)
    try:
        if access == "deactivate":
            await users.deactivate(actor, user_id)
        else:
            await users.reactivate(actor, user_id)
    except Conflict as exc:
        return await render_user(request, user, users, user_id, message=sentence(exc.detail), status_code=409)
    return RedirectResponse(f"{user_path(user_id)}?done={ACCESS[access]['done']}", status_code=SEE_OTHER)


# ---- the audit log ----------------------------------------------------------------------------------------------

AUDIT_FIELDS = {"actor": MAX_EMAIL_LENGTH, "action": MAX_ACTION_LENGTH, "patient_id": ID_BOUND, "from": 40, "to": 40}


@dataclass
class AuditForm:
    """The audit filters as typed (bounded, for redisplay), what they mean, and what is wrong with them."""

    values: dict[str, str]
    filters: AuditFilters
    page: int
    errors: dict[str, str] = field(default_factory=dict)


def read_audit_filters(params: Mapping[str, str]) -> AuditForm:
    """The filters from the address; a malformed day or page is a sentence under its field."""
    values = {name: bounded(params.get(name), limit) for name, limit in AUDIT_FIELDS.items()}
    errors: dict[str, str] = {}
    days = {name: parse_day(values[name]) for name in ("from", "to")}
    for name, label in (("from", "From"), ("to", "To")):
        if values[name] and days[name] is None:
            errors[name] = f"{label} must be a date like 2030-12-02."
    page = read_page(params.get("page"))
    if page is None:
        errors["page"] = PAGE_ERROR
    filters = AuditFilters(
        actor=values["actor"] or None,
        action=values["action"] or None,
        patient_id=values["patient_id"] or None,
        day_from=days["from"],
        day_to=days["to"],
    )
    return AuditForm(values, filters, page or 1, errors)


@router.get(AUDIT, response_class=HTMLResponse)
async def audit(request: Request, user: ConsoleAdmin, users: UserAdminServiceDep) -> HTMLResponse:
    """The audit log filtered by actor, action, patient and local days, newest first, 50 a page."""
    form = read_audit_filters(request.query_params)
    context: dict[str, Any] = {"values": form.values, "errors": form.errors, "rows": [], "pager": None}
    context["zone"] = users.settings.TZ
    if not form.errors:
        try:
            records, total = await users.audit_log(form.filters, page=form.page, page_size=AUDIT_PAGE_SIZE)
        except Unprocessable as exc:
            form.errors[exc.field or "action"] = sentence(exc.detail)
        else:
            zone = users.settings.zone
            context["rows"] = [
                {
                    "at": f"{record.at.astimezone(zone):%Y-%m-%d %H:%M:%S}",
                    "actor": record.actor,
                    "action": record.action,
                    "resource": record.resource,
                    "patient_id": record.patient_id or "",
                    "ip": record.ip or "",
                    "outcome": record.outcome.value,
                }
                for record in records
            ]
            context["pager"] = pager(request, page=form.page, page_size=AUDIT_PAGE_SIZE, total=total)
    status_code = 422 if form.errors else 200
    return console_page(request, "console/audit.html", user, "audit", context, status_code=status_code)
