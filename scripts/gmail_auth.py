"""`python -m scripts.gmail_auth`: the one-time OAuth consent that writes GOOGLE_TOKEN_FILE for the Gmail adapter.

Works on a machine without a browser: it prints the consent URL, the operator opens it anywhere, and pastes back
the address the browser was sent to (`http://localhost:<port>/?code=...`, a page that fails to load) or just
its code. `--local-server` instead listens on that port (reach it with `ssh -L <port>:localhost:<port>`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import requests
import typer
from google_auth_oauthlib.flow import InstalledAppFlow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from core.config import Settings
from services.gmail.client import GMAIL_SCOPES

app = typer.Typer(add_completion=False)
DEFAULT_PORT = 8085
CLIENT_FIELDS = ("client_id", "client_secret", "auth_uri", "token_uri")


class AuthError(Exception):
    """An expected failure, told to the operator as is (never containing a token or secret)."""


def client_config(path: str) -> dict[str, Any]:
    """The OAuth client JSON, which must be a Desktop app ("installed") client."""
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuthError(f"GOOGLE_CLIENT_SECRETS_FILE {path} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AuthError(f"GOOGLE_CLIENT_SECRETS_FILE {path} is not readable JSON ({type(exc).__name__})") from None
    installed = config.get("installed") if isinstance(config, dict) else None
    if not isinstance(installed, dict):
        raise AuthError(
            f'{path} is not a Desktop app OAuth client (no "installed" section); create one of type Desktop app'
        )
    missing = [field for field in CLIENT_FIELDS if not installed.get(field)]
    if missing:
        raise AuthError(f"{path} lacks {', '.join(missing)}; download the client JSON again")
    return config


def check_target(path: Path, *, force: bool) -> None:
    """Refuse an existing token file without --force, and a directory that cannot take the file."""
    if path.exists() and not force:
        raise AuthError(f"GOOGLE_TOKEN_FILE {path} already exists; pass --force to replace it")
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK | os.X_OK):
        raise AuthError(f"cannot write GOOGLE_TOKEN_FILE {path}: {path.parent} is not a writable directory")


def code_from_paste(text: str, state: str) -> str:
    """The authorisation code from a pasted redirect address (state checked) or a bare code."""
    text = text.strip()
    if not text.startswith(("http://", "https://")):
        if not text:
            raise AuthError("nothing was pasted")
        return text
    query = parse_qs(urlsplit(text).query)
    if "error" in query:
        raise AuthError(f"the consent was not given ({query['error'][0]}); run again and allow access")
    if query.get("state", [""])[0] != state:
        raise AuthError("the pasted address belongs to another consent attempt (state differs); run again")
    code = query.get("code", [""])[0]
    if not code:
        raise AuthError("the pasted address has no code= parameter")
    return code


def write_token(path: Path, content: str, *, force: bool) -> None:
    """Write the token file with mode 0600, whole or not at all; without force never over an existing file."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".gmail-token-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if the file appeared meanwhile
    except FileExistsError:
        raise AuthError(f"GOOGLE_TOKEN_FILE {path} already exists; pass --force to replace it") from None
    except OSError as exc:
        raise AuthError(f"cannot write GOOGLE_TOKEN_FILE {path} ({exc.strerror})") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def authorise(flow: InstalledAppFlow, *, local_server: bool, port: int) -> None:
    """Run the consent and the code exchange, leaving the credentials on the flow."""
    # offline + consent: Google returns a refresh token every time, not only on the first consent.
    options: dict[str, Any] = {"access_type": "offline", "prompt": "consent"}
    try:
        if local_server:
            flow.run_local_server(
                host="localhost",
                port=port,
                open_browser=False,
                authorization_prompt_message="Open this URL in a browser and allow access:\n{url}",
                success_message="Done: you can close this tab.",
                **options,
            )
            return
        flow.redirect_uri = f"http://localhost:{port}/"
        url, state = flow.authorization_url(**options)
        typer.echo(f"Open this URL in a browser and allow access:\n{url}\n")
        typer.echo("The browser then goes to http://localhost/... (which may fail to load): copy that whole address.")
        flow.fetch_token(code=code_from_paste(typer.prompt("Paste the address (or just its code)"), state))
    except OAuth2Error as exc:
        raise AuthError(f"Google refused the consent ({exc.error}); run again") from None
    except Warning:
        # oauthlib raises a Warning when the granted scopes differ from the requested ones.
        raise AuthError(f"the consent did not grant {' '.join(GMAIL_SCOPES)}; run again and tick every box") from None
    except requests.RequestException as exc:
        raise AuthError(f"could not reach Google's token endpoint ({type(exc).__name__})") from None
    except OSError as exc:
        raise AuthError(f"cannot listen on localhost:{port} ({exc.strerror})") from None


def run(settings: Settings, *, force: bool, local_server: bool, port: int) -> Path:
    """Check everything that can be checked first, then consent and write the token file."""
    if not settings.GOOGLE_CLIENT_SECRETS_FILE or not settings.GOOGLE_TOKEN_FILE:
        raise AuthError("set GOOGLE_CLIENT_SECRETS_FILE and GOOGLE_TOKEN_FILE (in .env or the environment)")
    target = Path(settings.GOOGLE_TOKEN_FILE)
    check_target(target, force=force)
    flow = InstalledAppFlow.from_client_config(client_config(settings.GOOGLE_CLIENT_SECRETS_FILE), list(GMAIL_SCOPES))
    authorise(flow, local_server=local_server, port=port)
    credentials = flow.credentials
    if not credentials.refresh_token:
        raise AuthError(
            "Google returned no refresh token; remove the app's access in your Google account and run again"
        )
    write_token(target, credentials.to_json(), force=force)
    return target


@app.command()
def main(
    force: Annotated[bool, typer.Option(help="Replace an existing GOOGLE_TOKEN_FILE.")] = False,
    local_server: Annotated[
        bool, typer.Option(help="Receive the redirect on localhost:PORT instead of a paste.")
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the http://localhost redirect.")] = DEFAULT_PORT,
) -> None:
    """Consent once to the clinic mailbox and write GOOGLE_TOKEN_FILE (mode 0600)."""
    try:
        target = run(Settings(), force=force, local_server=local_server, port=port)
    except AuthError as exc:
        typer.echo(f"Error: {exc}.", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"Token written to {target} (mode 0600). Next: python -m scripts.gmail_watch")


if __name__ == "__main__":
    app()
