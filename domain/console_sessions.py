"""Staff console sessions: sign in through the API's credential check, server-side sessions, CSRF, sign out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.clock import Clock
from core.config import Settings
from core.errors import Forbidden
from core.security import sha256_hex
from db.repositories.console_sessions import ConsoleSessionRepository
from db.repositories.users import UserRepository
from domain.auth import AuthService
from models.base import new_id
from models.system import ConsoleSession, User

# A session's expiry slides with use, written at most this often so most requests only read.
TOUCH_EVERY = timedelta(minutes=1)
# How long the sign-in form's token stays valid after the form was served.
LOGIN_FORM_TTL = timedelta(hours=2)
MAX_TOKEN_LENGTH = 200  # longer cookie or field values are refused before hashing


@dataclass(frozen=True)
class SignedIn:
    """The user behind a live session, and that session."""

    user: User
    session: ConsoleSession

    @property
    def csrf_token(self) -> str:
        """The token every console form posts back."""
        return self.session.csrf_token


@dataclass(frozen=True)
class NewSession:
    """A session just created: `token` is the cookie value (only its hash is stored)."""

    token: str
    signed_in: SignedIn


def same(given: str | None, expected: str) -> bool:
    """Constant-time equality of two tokens (a missing one never matches)."""
    return bool(given) and hmac.compare_digest((given or "").encode(), expected.encode())


class ConsoleSessionService:
    """Sign in and out of the staff console, resolve a session cookie, and check form tokens."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        auth: AuthService,
        sessions: ConsoleSessionRepository,
        users: UserRepository,
    ):
        self.settings = settings
        self.clock = clock
        self.auth = auth
        self.sessions = sessions
        self.users = users

    @property
    def idle(self) -> timedelta:
        """How long a session lives without a request."""
        return timedelta(minutes=self.settings.CONSOLE_SESSION_MINUTES)

    async def sign_in(self, email: str, password: str, *, ip: str | None) -> NewSession:
        """Check the credentials as the API login does (limits, lockout, audit) and open a session."""
        user = await self.auth.verify_credentials(email, password, ip=ip, action="console.login")
        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(
            id=new_id(),
            token_hash=sha256_hex(token),
            user_id=user.id,
            role=user.role,
            token_version=user.token_version,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.idle,
        )
        await self.sessions.insert(session)
        return NewSession(token=token, signed_in=SignedIn(user, session))

    async def resolve(self, token: str | None) -> SignedIn | None:
        """The live session of a cookie value and its active user (sliding its expiry), or None: signed out."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        now = self.clock.now()
        session = await self.sessions.live(sha256_hex(token), now=now)
        if session is None:
            return None
        user = await self.users.get(session.user_id)
        if user is None or not user.is_active or session.token_version != user.token_version:
            return None
        if now - session.last_seen_at >= TOUCH_EVERY:
            await self.sessions.touch(session.id, now=now, expires_at=now + self.idle, every=TOUCH_EVERY)
        return SignedIn(user, session)

    @staticmethod
    def check_csrf(signed_in: SignedIn, given: str | None) -> None:
        """403 unless the form carries the session's token."""
        if not same(given, signed_in.csrf_token):
            raise Forbidden("This form has expired or did not come from the console", error="csrf_failed")

    async def sign_out(self, token: str, signed_in: SignedIn, *, ip: str | None) -> None:
        """End the session (its row is deleted) and audit it."""
        await self.sessions.delete_by_hash(sha256_hex(token))
        await self.auth.audit_action(signed_in.user.email, "console.logout", ip=ip)

    # ---- the sign-in form's token (before there is a session) ----------------------------------------------

    def login_form_token(self) -> str:
        """A fresh signed token for the sign-in form: `nonce.expiry.signature`, valid for LOGIN_FORM_TTL."""
        nonce = secrets.token_urlsafe(16)
        expires = int((self.clock.now() + LOGIN_FORM_TTL).timestamp())
        return f"{nonce}.{expires}.{self._sign(f'{nonce}.{expires}')}"

    def login_form_ok(self, cookie: str | None, field: str | None) -> bool:
        """True when the form's field equals its cookie and is a token this app signed that has not expired."""
        if not cookie or not same(field, cookie) or len(cookie) > MAX_TOKEN_LENGTH:
            return False
        nonce, _, rest = cookie.partition(".")
        expires, _, signature = rest.partition(".")
        if not nonce or not expires.isdigit() or not same(signature, self._sign(f"{nonce}.{expires}")):
            return False
        return datetime.fromtimestamp(int(expires), UTC) > self.clock.now()

    def _sign(self, message: str) -> str:
        digest = hmac.new(self.settings.key("console"), message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
