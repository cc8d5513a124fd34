"""GmailPort over google-api-python-client; every blocking call runs in a worker thread.

Thread safety: httplib2.Http is not thread-safe, so, following the library's thread-safety guide, one
discovery Resource is built once (it only describes the API) and every worker thread gets its own
`AuthorizedHttp(credentials, httplib2.Http(timeout))` through `requestBuilder`, kept for that thread's later
calls (its TCP/TLS connection stays open) and closed by `aclose`. No connection is shared between threads, so
any number of concurrent calls is safe. The shared OAuth credentials are refreshed under a lock so that
concurrent calls do not all refresh an expired token at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials as BaseCredentials
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import Error as ApiClientError
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from services.gmail.mime import build_reply, decode_base64url, parse_message, to_raw
from services.gmail.port import GmailError, GmailMessage, GmailPort, HistoryGone, HistoryPage, WatchResult

if TYPE_CHECKING:
    from core.config import Settings

# What the OAuth consent must grant (read history/messages, send replies, manage the watch).
GMAIL_SCOPES = ("https://www.googleapis.com/auth/gmail.modify",)
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_LIST_PAGE = 500
TOO_MANY_REQUESTS = 429
REQUEST_TIMEOUT = 408
NOT_FOUND = 404
FORBIDDEN = 403
SERVER_ERROR = 500
# Gmail reports per-user quota exhaustion as 403 with one of these reasons; they pass, so they are retryable.
_RETRYABLE_403_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})


def _error_reasons(exc: HttpError) -> set[str]:
    try:
        payload = json.loads(exc.content.decode("utf-8", errors="replace"))
        errors = payload.get("error", {}).get("errors", [])
        return {str(item.get("reason")) for item in errors if isinstance(item, dict)}
    except (ValueError, AttributeError):
        return set()


def error_from_http(exc: HttpError, *, operation: str) -> GmailError:
    """Map an HttpError to GmailError: 429/5xx and quota 403s retryable, other 4xx not."""
    status = int(exc.resp.status)
    # Only the status goes into the message: Gmail error bodies can echo request data.
    message = f"Gmail {operation} answered {status}"
    if status == NOT_FOUND and operation == "history.list":
        return HistoryGone(message)
    retryable = (
        status >= SERVER_ERROR
        or status in (TOO_MANY_REQUESTS, REQUEST_TIMEOUT)
        or (status == FORBIDDEN and bool(_error_reasons(exc) & _RETRYABLE_403_REASONS))
    )
    return GmailError(message, retryable=retryable, status=status)


def _int(value: object, *, field: str) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError) as exc:
        raise GmailError(f"Gmail answered without a valid {field}", retryable=True) from exc


class GoogleGmail(GmailPort):
    """The clinic mailbox through the Gmail REST API (users.me)."""

    def __init__(
        self,
        *,
        credentials: BaseCredentials,
        from_email: str,
        from_name: str = "",
        api_base_url: str = "",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.from_email = from_email
        self.from_name = from_name
        self.timeout = timeout
        self._credentials = credentials
        self._refresh_lock = threading.Lock()
        self._per_thread = threading.local()
        self._https: list[google_auth_httplib2.AuthorizedHttp] = []
        self._https_lock = threading.Lock()
        client_options = {"api_endpoint": api_base_url.rstrip("/") + "/"} if api_base_url else None
        self._service = build(
            "gmail",
            "v1",
            credentials=credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options=client_options,
            requestBuilder=self._request_builder,
        )
        # Each users()/messages() call builds its resource from the discovery document (a third of a request's
        # CPU); built once here and shared, as they only describe the API.
        self._users = self._service.users()
        self._messages = self._users.messages()
        self._history = self._users.history()

    @classmethod
    def from_token_file(cls, token_file: str, *, scopes: Sequence[str] | None = None, **kwargs: Any) -> GoogleGmail:
        """Build with the authorised-user token file (as written by the OAuth consent flow)."""
        # scopes=None keeps the scopes stored in the file: asking for others on refresh fails with invalid_scope.
        credentials = Credentials.from_authorized_user_file(token_file, list(scopes) if scopes else None)
        return cls(credentials=credentials, **kwargs)

    @classmethod
    def from_settings(cls, settings: Settings) -> GoogleGmail:
        """Build from GOOGLE_TOKEN_FILE, GMAIL_API_BASE_URL, GMAIL_API_TIMEOUT_SECONDS, CLINIC_EMAIL, SMTP_FROM_NAME."""
        if not settings.GOOGLE_TOKEN_FILE:
            raise ValueError("Gmail needs GOOGLE_TOKEN_FILE (an authorised-user token JSON)")
        return cls.from_token_file(
            settings.GOOGLE_TOKEN_FILE,
            from_email=settings.CLINIC_EMAIL,
            from_name=settings.SMTP_FROM_NAME,
            api_base_url=settings.GMAIL_API_BASE_URL,
            timeout=settings.GMAIL_API_TIMEOUT_SECONDS,
        )

    def _new_http(self) -> google_auth_httplib2.AuthorizedHttp:
        http = httplib2.Http(timeout=self.timeout)
        http.redirect_codes = http.redirect_codes - {308}
        return google_auth_httplib2.AuthorizedHttp(self._credentials, http=http)

    def _thread_http(self) -> google_auth_httplib2.AuthorizedHttp:
        """This thread's AuthorizedHttp, created on its first call."""
        http = getattr(self._per_thread, "http", None)
        if http is None:
            http = self._new_http()
            self._per_thread.http = http
            with self._https_lock:
                self._https.append(http)
        return http

    def _request_builder(self, _shared_http: object, *args: Any, **kwargs: Any) -> HttpRequest:
        return HttpRequest(self._thread_http(), *args, **kwargs)

    def _ensure_fresh_token(self) -> None:
        if self._credentials.valid:
            return
        with self._refresh_lock:
            if self._credentials.valid:
                return
            http = httplib2.Http(timeout=self.timeout)
            try:
                self._credentials.refresh(google_auth_httplib2.Request(http))
            finally:
                http.close()

    def _execute(self, make_request: Callable[[], HttpRequest]) -> dict[str, Any]:
        self._ensure_fresh_token()
        result = make_request().execute()
        return result if isinstance(result, dict) else {}

    async def _call(self, operation: str, make_request: Callable[[], HttpRequest]) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(self._execute, make_request)
        except HttpError as exc:
            raise error_from_http(exc, operation=operation) from exc
        except google.auth.exceptions.RefreshError as exc:
            # A revoked or expired refresh token needs an operator, unless the library says it is transient.
            raise GmailError(
                f"Gmail {operation}: token refresh failed", retryable=bool(getattr(exc, "retryable", False))
            ) from exc
        except (google.auth.exceptions.TransportError, httplib2.HttpLib2Error, OSError) as exc:
            # Includes timeouts after the request was sent: for a send the outcome is then unknown.
            raise GmailError(f"Gmail {operation} unreachable: {type(exc).__name__}", retryable=True) from exc
        except (ApiClientError, google.auth.exceptions.GoogleAuthError) as exc:
            raise GmailError(f"Gmail {operation} client error: {type(exc).__name__}") from exc

    async def watch(self, *, topic: str, label_ids: list[str], label_filter_action: str) -> WatchResult:
        """users.watch on the topic; returns the current history id and when the watch expires."""
        body = {
            "topicName": topic,
            "labelIds": list(label_ids),
            # labelFilterBehavior replaces the deprecated labelFilterAction; send both for older servers.
            "labelFilterAction": label_filter_action,
            "labelFilterBehavior": label_filter_action,
        }
        result = await self._call("watch", lambda: self._users.watch(userId="me", body=body))
        expiration_ms = _int(result.get("expiration"), field="expiration")
        return WatchResult(
            history_id=_int(result.get("historyId"), field="historyId"),
            expiration=datetime.fromtimestamp(expiration_ms / 1000, UTC),
        )

    async def history_page(self, *, start_history_id: int, page_token: str | None, label_id: str | None) -> HistoryPage:
        """history.list (messageAdded) after `start_history_id`; HistoryGone when Gmail no longer has it."""
        params: dict[str, Any] = {
            "userId": "me",
            "startHistoryId": str(start_history_id),
            "historyTypes": ["messageAdded"],
        }
        if page_token:
            params["pageToken"] = page_token
        if label_id:
            params["labelId"] = label_id
        result = await self._call("history.list", lambda: self._history.list(**params))
        ids: dict[str, None] = {}
        for record in result.get("history") or []:
            for added in record.get("messagesAdded") or []:
                message_id = (added.get("message") or {}).get("id")
                if message_id:
                    ids[str(message_id)] = None
        return HistoryPage(
            message_ids=list(ids),
            next_page_token=result.get("nextPageToken") or None,
            history_id=_int(result.get("historyId"), field="historyId"),
        )

    async def recent_message_ids(self, *, max_results: int, query: str | None) -> list[str]:
        """messages.list, newest first, following pages until `max_results` ids are collected."""
        ids: list[str] = []
        page_token: str | None = None
        while len(ids) < max_results:
            params: dict[str, Any] = {"userId": "me", "maxResults": min(MAX_LIST_PAGE, max_results - len(ids))}
            if query:
                params["q"] = query
            if page_token:
                params["pageToken"] = page_token

            def list_page(page_params: dict[str, Any] = params) -> HttpRequest:
                return self._messages.list(**page_params)

            result = await self._call("messages.list", list_page)
            ids.extend(str(item["id"]) for item in result.get("messages") or [] if item.get("id"))
            page_token = result.get("nextPageToken")
            if not page_token:
                break
        return list(dict.fromkeys(ids))[:max_results]

    async def get_message(self, message_id: str) -> GmailMessage:
        """messages.get with format=raw, parsed with the email package."""
        result = await self._call(
            "messages.get",
            lambda: self._messages.get(userId="me", id=message_id, format="raw"),
        )
        try:
            if not result.get("raw"):
                raise ValueError("no raw field")
            raw = decode_base64url(str(result["raw"]))
        except ValueError as exc:
            raise GmailError("Gmail messages.get answered a malformed raw message") from exc
        return parse_message(
            raw,
            message_id=str(result.get("id") or message_id),
            thread_id=str(result.get("threadId") or ""),
            label_ids=tuple(result.get("labelIds") or ()),
            internal_date_ms=result.get("internalDate"),
        )

    async def send_reply(
        self,
        *,
        thread_id: str,
        to: str,
        subject: str,
        text: str,
        in_reply_to: str | None,
        references: str | None,
        extra_headers: dict[str, str],
    ) -> str:
        """users.messages.send in `thread_id` with the threading headers; returns the sent message id."""
        mime = build_reply(
            from_email=self.from_email,
            from_name=self.from_name,
            to=to,
            subject=subject,
            text=text,
            in_reply_to=in_reply_to,
            references=references,
            extra_headers=extra_headers,
        )
        body = {"raw": to_raw(mime), "threadId": thread_id}
        result = await self._call("messages.send", lambda: self._messages.send(userId="me", body=body))
        sent_id = result.get("id")
        if not sent_id:
            raise GmailError("Gmail messages.send answered without a message id")
        return str(sent_id)

    async def profile_email(self) -> str:
        """users.getProfile emailAddress."""
        result = await self._call("getProfile", lambda: self._users.getProfile(userId="me"))
        return str(result.get("emailAddress", ""))

    async def aclose(self) -> None:
        """Close every worker thread's connection."""
        with self._https_lock:
            https, self._https = self._https, []
        for http in https:
            http.close()
