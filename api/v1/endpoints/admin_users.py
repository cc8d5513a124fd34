"""Admin API (admins only): staff accounts and the audit trail."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ClientIP, CurrentAdmin, UserAdminServiceDep
from domain.audit import Actor
from domain.users_admin import MAX_ACTION_LENGTH, AuditFilters, Credentials, NewUser
from models.system import User
from schemas.admin import AuditPage, AuditRead, PasswordResetCreate, UserCreate, UserPage, UserPasswordRead
from schemas.auth import MAX_EMAIL_LENGTH, UserRead
from schemas.common import BODY_ERRORS, error_responses

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
UserIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="user id")]
Page = Annotated[int, Query(ge=1, le=10_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]
LIST_ERRORS = error_responses(401, 403, 422, 503)
ACTION_ERRORS = error_responses(401, 403, 404, 409, 422, 503)
BODY_ACTION_ERRORS = error_responses(*BODY_ERRORS, 401, 403, 404, 409, 503)


def user_read(user: User) -> UserRead:
    """An account without secrets."""
    return UserRead.model_validate(user, from_attributes=True)


def credentials_read(credentials: Credentials) -> UserPasswordRead:
    """An account and the password generated for it (if any), shown this once."""
    return UserPasswordRead(
        **user_read(credentials.user).model_dump(), generated_password=credentials.generated_password
    )


@router.get("/users", response_model=UserPage, responses=LIST_ERRORS)
async def list_users(_: CurrentAdmin, users: UserAdminServiceDep, page: Page = 1, page_size: PageSize = 50) -> UserPage:
    """Every staff account, by email."""
    items, total = await users.list_users(page=page, page_size=page_size)
    return UserPage(items=[user_read(u) for u in items], total=total, page=page, page_size=page_size)


@router.post("/users", response_model=UserPasswordRead, status_code=201, responses=BODY_ACTION_ERRORS)
async def create_user(
    body: UserCreate, admin: CurrentAdmin, users: UserAdminServiceDep, ip: ClientIP
) -> UserPasswordRead:
    """Create a staff or admin account; without a password one is generated and returned once; 409 email taken."""
    new = NewUser(email=body.email, role=body.role, password=body.password)
    return credentials_read(await users.create(Actor(admin.email, ip), new))


@router.post("/users/{user_id}/reset-password", response_model=UserPasswordRead, responses=BODY_ACTION_ERRORS)
async def reset_password(
    user_id: UserIdPath, body: PasswordResetCreate, admin: CurrentAdmin, users: UserAdminServiceDep, ip: ClientIP
) -> UserPasswordRead:
    """Set a new password (given, or generated and returned once); the user's sessions and tokens end."""
    return credentials_read(await users.reset_password(Actor(admin.email, ip), user_id, body.password))


@router.post("/users/{user_id}/deactivate", response_model=UserRead, responses=ACTION_ERRORS)
async def deactivate_user(
    user_id: UserIdPath, admin: CurrentAdmin, users: UserAdminServiceDep, ip: ClientIP
) -> UserRead:
    """The account can no longer sign in; its sessions and tokens end at once; 409 for oneself or the last admin."""
    return user_read(await users.deactivate(Actor(admin.email, ip), user_id))


@router.post("/users/{user_id}/reactivate", response_model=UserRead, responses=ACTION_ERRORS)
async def reactivate_user(
    user_id: UserIdPath, admin: CurrentAdmin, users: UserAdminServiceDep, ip: ClientIP
) -> UserRead:
    """The account can sign in again with its password."""
    return user_read(await users.reactivate(Actor(admin.email, ip), user_id))


@router.get("/audit", response_model=AuditPage, responses=LIST_ERRORS)
async def audit_log(
    _: CurrentAdmin,
    users: UserAdminServiceDep,
    page: Page = 1,
    page_size: PageSize = 50,
    actor: Annotated[str | None, Query(max_length=MAX_EMAIL_LENGTH, description="only this actor's records")] = None,
    action: Annotated[
        str | None,
        Query(max_length=MAX_ACTION_LENGTH, description="an action (users.create) or a prefix ending in * (users.*)"),
    ] = None,
    patient_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{24}$", description="only about this patient")] = None,
    day_from: Annotated[date | None, Query(alias="from", description="first local day, YYYY-MM-DD")] = None,
    day_to: Annotated[date | None, Query(alias="to", description="last local day, YYYY-MM-DD (included)")] = None,
) -> AuditPage:
    """The audit trail, filtered, newest first (days in clinic time)."""
    filters = AuditFilters(actor=actor, action=action, patient_id=patient_id, day_from=day_from, day_to=day_to)
    items, total = await users.audit_log(filters, page=page, page_size=page_size)
    return AuditPage(items=[AuditRead.model_validate(i) for i in items], total=total, page=page, page_size=page_size)
