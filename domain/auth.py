"""Staff authentication: login with per-account throttling and an audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from core.clock import Clock
from core.config import Settings
from core.errors import Forbidden, TooManyRequests, Unauthorized
from core.net import ip_bucket
from core.security import Passwords, create_access_token, decode_access_token, sha256_hex
from db.repositories.audit import AuditRepository
from db.repositories.login_attempts import LoginAttemptRepository
from db.repositories.rate_limits import RateLimitRepository
from db.repositories.users import UserRepository
from domain.limits import over_limit, window_start
from models.enums import AuditOutcome, Role
from models.system import User

INVALID_CREDENTIALS = "Incorrect email or password"
RATE_WINDOW = timedelta(minutes=1)


@dataclass
class IssuedToken:
    """An access token and its lifetime in seconds."""

    access_token: str
    expires_in: int


class AuthService:
    """Login, token verification and role checks."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        users: UserRepository,
        attempts: LoginAttemptRepository,
        rate_limits: RateLimitRepository,
        audit: AuditRepository,
        passwords: Passwords,
    ):
        self.settings = settings
        self.clock = clock
        self.users = users
        self.attempts = attempts
        self.rate_limits = rate_limits
        self.audit = audit
        self.passwords = passwords

    async def login(self, email: str, password: str, *, ip: str | None) -> IssuedToken:
        """Check credentials; unknown user and wrong password fail identically."""
        user = await self.verify_credentials(email, password, ip=ip)
        expires = timedelta(minutes=self.settings.ACCESS_TOKEN_EXPIRE_MINUTES)
        token = create_access_token(
            subject=user.id,
            role=user.role.value,
            key=self.settings.key("access"),
            algorithm=self.settings.JWT_ALGORITHM,
            expires=expires,
            now=self.clock.now(),
            version=user.token_version,
        )
        return IssuedToken(access_token=token, expires_in=int(expires.total_seconds()))

    async def verify_credentials(self, email: str, password: str, *, ip: str | None, action: str = "login") -> User:
        """The active user these credentials belong to, under the per-IP limit and lockout, audited as `action`."""
        async with self.passwords.slot():
            return await self._verify(email.strip().lower(), password, ip=ip, action=action)

    async def _verify(self, email: str, password: str, *, ip: str | None, action: str) -> User:
        now = self.clock.now()
        await self._limit_ip(ip, now)
        key = sha256_hex(email)
        settings = self.settings
        lockout = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
        # Counted before the check, so concurrent guesses cannot all be verified before the first failure lands.
        allowed = await self.attempts.begin(
            key,
            now=now,
            window=timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES),
            max_attempts=settings.LOGIN_MAX_FAILURES,
            lockout=lockout,
        )
        if not allowed:
            await self._audit(email, action, AuditOutcome.DENIED, ip)
            raise TooManyRequests("Too many failed login attempts; try again later", error="account_locked")
        user = await self.users.get_by_email(email)
        ok = await self.passwords.verify(password, user.password_hash if user else None)
        if not ok or user is None or not user.is_active:
            await self.attempts.record_failure(
                key, now=self.clock.now(), max_attempts=settings.LOGIN_MAX_FAILURES, lockout=lockout
            )
            await self._audit(email, action, AuditOutcome.FAILURE, ip)
            raise Unauthorized(INVALID_CREDENTIALS, error="invalid_credentials")
        await self.attempts.reset(key)
        await self._audit(email, action, AuditOutcome.SUCCESS, ip)
        return user

    async def _limit_ip(self, ip: str | None, now: datetime) -> None:
        if not ip:
            return
        key = f"login:ip:{sha256_hex(ip_bucket(ip))}"
        limit = self.settings.LOGIN_RATE_LIMIT_PER_IP
        if await over_limit(self.rate_limits, key, limit=limit, per=RATE_WINDOW, now=now):
            window = window_start(now, RATE_WINDOW)
            raise TooManyRequests(
                "Too many login attempts from this address; try again in a minute",
                error="rate_limited",
                headers={"Retry-After": str(int((window + RATE_WINDOW - now).total_seconds()) + 1)},
            )

    async def authenticate(self, token: str | None) -> User:
        """The active user a bearer token belongs to, or 401."""
        if not token:
            raise Unauthorized()
        try:
            claims = decode_access_token(token, key=self.settings.key("access"), algorithm=self.settings.JWT_ALGORITHM)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token has expired", error="token_expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("Invalid token", error="invalid_token") from exc
        user = await self.users.get(str(claims["sub"]))
        if user is None or not user.is_active or claims.get("ver", 0) != user.token_version:
            raise Unauthorized("Invalid token", error="invalid_token")
        return user

    @staticmethod
    def require_role(user: User, role: Role) -> User:
        """403 unless the user has the role (admins may do everything)."""
        if user.role != role and user.role != Role.ADMIN:
            raise Forbidden("This action needs the admin role", error="insufficient_role")
        return user

    async def _audit(self, actor: str, action: str, outcome: AuditOutcome, ip: str | None) -> None:
        await self.audit.record(
            actor=actor, action=action, resource="auth", at=self.clock.now(), ip=ip, outcome=outcome
        )

    async def audit_action(self, actor: str, action: str, *, ip: str | None) -> None:
        """Record a successful auth event other than a credential check (e.g. a console logout)."""
        await self._audit(actor, action, AuditOutcome.SUCCESS, ip)
