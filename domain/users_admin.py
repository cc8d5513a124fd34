"""Admin use cases on staff accounts (create, reset a password, deactivate, reactivate) and the audit viewer.

Every change is audited with its actor (failures too); passwords are hashed off the event loop and never logged,
stored or audited in plain text. A reset or a deactivation ends the user's console sessions and raises their
token version, so their access tokens stop working at once too.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from pymongo.errors import DuplicateKeyError

from core.clock import Clock
from core.config import Settings
from core.errors import Conflict, NotFound, Unprocessable
from core.security import Passwords, password_problem, sha256_hex
from db.repositories import Repositories
from db.repositories.audit import AuditQuery
from domain.audit import Actor, AuditTrail
from domain.slots import local_midnight_utc
from models.base import is_object_id, new_id
from models.enums import Role
from models.system import AuditRecord, User

MAX_EMAIL_LENGTH = 254
MAX_ACTION_LENGTH = 100
PREFIX_MARK = "*"  # an action filter ending in it matches every action starting with the rest ("users.*")
GENERATED_PASSWORD_BYTES = 15  # 20 URL-safe characters, well over the policy's minimum
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ACTION = re.compile(r"^[A-Za-z0-9_.:\-]+$")


def normalize_email(email: str) -> str:
    """Trimmed, lower-cased login email; ValueError when it does not look like an address."""
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise ValueError(f"{email[:MAX_EMAIL_LENGTH]!r} is not a valid email address")
    return email


def generate_password() -> str:
    """A random password for an account, shown to the admin once."""
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


class EmailTaken(Conflict):
    """409: an account with this email exists."""

    error = "email_taken"


class AccountGuard(Conflict):
    """409: the change would lock the clinic out (own account, last active admin)."""

    error = "account_guard"


@dataclass(frozen=True)
class NewUser:
    """An account to create; without a password one is generated."""

    email: str
    role: Role = Role.STAFF
    password: str | None = None


@dataclass(frozen=True)
class Credentials:
    """An account just created or reset, and the generated password (shown once; None when the admin chose it)."""

    user: User
    generated_password: str | None


@dataclass(frozen=True)
class AuditFilters:
    """What the audit viewer narrows by: actor, action (exact, or a prefix ending in `*`), patient, local days."""

    actor: str | None = None
    action: str | None = None
    patient_id: str | None = None
    day_from: date | None = None
    day_to: date | None = None


class UserAdminService:
    """Staff accounts and the audit trail, for admins."""

    def __init__(self, *, settings: Settings, clock: Clock, repos: Repositories, passwords: Passwords):
        self.settings = settings
        self.clock = clock
        self.repos = repos
        self.passwords = passwords
        self.audit = AuditTrail(repo=repos.audit, clock=clock)

    # ---- accounts ---------------------------------------------------------------------------------------------

    async def list_users(self, *, page: int, page_size: int) -> tuple[list[User], int]:
        """Every account by email, paged."""
        return await self.repos.users.page(skip=(page - 1) * page_size, limit=page_size)

    async def user(self, user_id: str) -> User:
        """One account, or 404."""
        found = await self.repos.users.get(user_id) if is_object_id(user_id) else None
        if found is None:
            raise NotFound("There is no such user.", error="user_not_found")
        return found

    async def create(self, actor: Actor, new: NewUser) -> Credentials:
        """Create a staff or admin account with the given password (policy-checked) or a generated one; audited."""
        user_id = new_id()
        async with self.audit.audited(actor, "users.create", f"users/{user_id}"):
            try:
                email = normalize_email(new.email)
            except ValueError as exc:
                raise Unprocessable("Enter a valid email address, like name@clinic.com.", field="email") from exc
            password, generated = self._chosen(new.password)
            now = self.clock.now()
            user = User(
                id=user_id,
                email=email,
                password_hash=await self.passwords.hash(password),
                role=new.role,
                created_at=now,
                updated_at=now,
            )
            try:
                await self.repos.users.insert(user)
            except DuplicateKeyError as exc:
                raise EmailTaken(f"An account with the email {email} already exists.") from exc
            return Credentials(user, generated)

    async def reset_password(self, actor: Actor, user_id: str, password: str | None = None) -> Credentials:
        """Set a new password (given, or generated); the user's sessions and tokens end, any lockout lifts; audited."""
        async with self.audit.audited(actor, "users.reset_password", f"users/{user_id}"):
            target = await self.user(user_id)
            password, generated = self._chosen(password)
            hashed = await self.passwords.hash(password)
            user = await self.repos.users.set_password(target.id, password_hash=hashed, now=self.clock.now())
            if user is None:
                raise NotFound("There is no such user.", error="user_not_found")
            await self.repos.console_sessions.delete_for_user(user.id)
            # Same key as domain.auth's failed-login counter: the new password works at once.
            await self.repos.login_attempts.reset(sha256_hex(user.email))
            return Credentials(user, generated)

    async def deactivate(self, actor: Actor, user_id: str) -> User:
        """The account can no longer sign in and its sessions and tokens end at once; never one's own, never the
        last active admin; audited."""
        async with self.audit.audited(actor, "users.deactivate", f"users/{user_id}"):
            target = await self.user(user_id)
            if target.email == actor.email:
                raise AccountGuard("You cannot deactivate your own account.", error="cannot_deactivate_self")
            users = self.repos.users
            changed = await users.set_active(target.id, active=False, now=self.clock.now())
            # Checked after the write, so two admins deactivating each other at once cannot both succeed.
            if changed and target.role == Role.ADMIN and await users.count_active_admins() == 0:
                await users.set_active(target.id, active=True, now=self.clock.now())
                raise AccountGuard("The last active admin cannot be deactivated.", error="last_admin")
            await users.revoke_tokens(target.id)
            await self.repos.console_sessions.delete_for_user(target.id)
            return await self.user(target.id)

    async def reactivate(self, actor: Actor, user_id: str) -> User:
        """The account can sign in again (with its password; older sessions and tokens stay ended); audited."""
        async with self.audit.audited(actor, "users.reactivate", f"users/{user_id}"):
            target = await self.user(user_id)
            await self.repos.users.set_active(target.id, active=True, now=self.clock.now())
            return await self.user(target.id)

    @staticmethod
    def _chosen(password: str | None) -> tuple[str, str | None]:
        """The password to set and the generated one to show (None when the admin chose it); 422 under the policy."""
        if password is None:
            generated = generate_password()
            return generated, generated
        problem = password_problem(password)
        if problem:
            raise Unprocessable(problem, error="weak_password", field="password")
        return password, None

    # ---- the audit trail --------------------------------------------------------------------------------------

    async def audit_log(self, filters: AuditFilters, *, page: int, page_size: int) -> tuple[list[AuditRecord], int]:
        """Audit records narrowed by the filters (days in clinic time, both included), newest first, paged."""
        query = self.audit_query(filters)
        return await self.repos.audit.page(skip=(page - 1) * page_size, limit=page_size, query=query)

    def audit_query(self, filters: AuditFilters) -> AuditQuery:
        """The repository query for these filters; 422 for a malformed patient id, action or day range."""
        action = prefix = None
        if filters.action:
            body = filters.action.removesuffix(PREFIX_MARK)
            if len(filters.action) > MAX_ACTION_LENGTH or not _ACTION.match(body):
                raise Unprocessable(
                    "The action must be like users.create, or a prefix ending in * like users.*.",
                    error="invalid_action",
                    field="action",
                )
            action, prefix = (None, body) if filters.action.endswith(PREFIX_MARK) else (body, None)
        if filters.patient_id and not is_object_id(filters.patient_id):
            raise Unprocessable("The patient id must be 24 hexadecimal characters.", field="patient_id")
        if filters.day_from and filters.day_to and filters.day_from > filters.day_to:
            raise Unprocessable("The last day must not be before the first.", error="invalid_range", field="to")
        zone = self.settings.zone
        return AuditQuery(
            actor=filters.actor or None,
            action=action,
            action_prefix=prefix,
            patient_id=filters.patient_id or None,
            at_from=local_midnight_utc(zone, filters.day_from) if filters.day_from else None,
            at_to=local_midnight_utc(zone, filters.day_to + timedelta(days=1)) if filters.day_to else None,
        )
