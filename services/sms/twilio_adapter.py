"""SmsPort over the real twilio library; its blocking calls run in a worker thread."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from services.sms.port import OPTED_OUT_CODE, OptedOutError, SmsError, SmsPort

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.config import Settings

DEFAULT_TIMEOUT_SECONDS = 10.0
TOO_MANY_REQUESTS = 429


def rebase_url(url: str, base_url: str) -> str:
    """Move a *.twilio.com URL onto `base_url` (scheme, host, path prefix), keeping its path and query."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != "twilio.com" and not host.endswith(".twilio.com"):
        return url
    base = urlsplit(base_url)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


class RebasingHttpClient(TwilioHttpClient):
    """Twilio's requests-based HTTP client, optionally sending api.twilio.com requests to another base URL."""

    def __init__(self, *, base_url: str = "", timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        super().__init__(pool_connections=True, timeout=timeout)
        if base_url and urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"TWILIO_API_BASE_URL must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send the request, rewritten onto the base URL when one is configured."""
        if self.base_url:
            url = rebase_url(url, self.base_url)
        return super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        if self.session is not None:
            self.session.close()


def _error_from_twilio(exc: TwilioRestException | TwilioServiceException) -> SmsError:
    status = int(exc.status)
    # Without a JSON body the library reports the HTTP status as the code; that is not a Twilio error code.
    code = int(exc.code) if exc.code is not None and exc.code != status else None
    text = (exc.detail or exc.title) if isinstance(exc, TwilioServiceException) else exc.msg
    message = f"Twilio answered {status}" + (f" (error {code})" if code else "") + f": {text}"
    if code == OPTED_OUT_CODE:
        return OptedOutError(message, status=status)
    return SmsError(message, retryable=status >= 500 or status == TOO_MANY_REQUESTS, code=code, status=status)


class TwilioSms(SmsPort):
    """Texts and voice calls through Twilio's REST API."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        clinic_phone: str,
        api_base_url: str = "",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not (account_sid and auth_token and from_number):
            raise ValueError("Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER")
        self.from_number = from_number
        self.clinic_phone = clinic_phone
        self._http = RebasingHttpClient(base_url=api_base_url, timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioSms:
        """Build from TWILIO_* and CLINIC_PHONE settings."""
        return cls(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            from_number=settings.TWILIO_PHONE_NUMBER,
            clinic_phone=settings.CLINIC_PHONE,
            api_base_url=settings.TWILIO_API_BASE_URL,
        )

    def twiml(self, message: str) -> str:
        """The TwiML a call reads: the message, then the clinic's phone number."""
        response = VoiceResponse()
        response.say(message)
        response.say(f"Please call us at {self.clinic_phone}.")
        return str(response.to_xml(xml_declaration=False))

    async def send_sms(self, *, to: str, body: str) -> str:
        """Send a text message; returns the SM… sid."""

        def create() -> str:
            return str(self._client.messages.create(to=to, from_=self.from_number, body=body).sid)

        return await self._call(create)

    async def place_call(self, *, to: str, message: str) -> str:
        """Place a call that says `message`; returns the CA… sid."""
        twiml = self.twiml(message)

        def create() -> str:
            return str(self._client.calls.create(to=to, from_=self.from_number, twiml=twiml).sid)

        return await self._call(create)

    async def _call(self, operation: Callable[[], str]) -> str:
        try:
            return await asyncio.to_thread(operation)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _error_from_twilio(exc) from exc
        except requests.RequestException as exc:
            # Includes read timeouts after the request was sent: the caller must treat the outcome as unknown.
            raise SmsError(f"Twilio unreachable: {type(exc).__name__}", retryable=True) from exc
        except TwilioException as exc:
            raise SmsError(f"Twilio client error: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        """Release pooled HTTP connections."""
        self._http.close()
