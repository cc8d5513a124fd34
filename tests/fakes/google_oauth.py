"""A loopback fake of Google's OAuth token endpoint (authorization_code grant), recording every exchange."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.loopback import LoopbackFake

CLIENT_ID = "fake-client.apps.googleusercontent.com"
CLIENT_SECRET = "fake-client-secret-xyz"
ACCESS_TOKEN = "fake-access-token-abc"
REFRESH_TOKEN = "fake-refresh-token-def"


class FakeGoogleOAuth(LoopbackFake):
    """POST /token swaps `code` for tokens; `refuse` makes it answer invalid_grant, `scope` what it grants."""

    def __init__(self, *, code: str, scope: str) -> None:
        self.code = code
        self.scope = scope
        self.refuse = False
        self.exchanges: list[dict[str, str]] = []
        app = FastAPI(openapi_url=None)

        @app.post("/token")
        async def token(request: Request) -> JSONResponse:
            form = dict(parse_qsl((await request.body()).decode()))
            self.exchanges.append(form)
            if self.refuse or form.get("grant_type") != "authorization_code" or form.get("code") != self.code:
                return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, status_code=400)
            return JSONResponse(
                {
                    "access_token": ACCESS_TOKEN,
                    "refresh_token": REFRESH_TOKEN,
                    "expires_in": 3599,
                    "scope": self.scope,
                    "token_type": "Bearer",
                }
            )

        self.serve(app)

    def write_client_secrets(self, path: Path) -> Path:
        """A Desktop app client JSON whose token_uri is this fake."""
        installed = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.url}/token",
            "redirect_uris": ["http://localhost"],
        }
        path.write_text(json.dumps({"installed": installed}))
        return path
