"""`python -m scripts.gmail_auth`: checks before consenting, the real code exchange against a fake token endpoint."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from typer.testing import CliRunner, Result

from scripts import gmail_auth
from services.gmail.client import GMAIL_SCOPES
from services.loopback import bind_loopback
from tests.fakes.google_oauth import ACCESS_TOKEN, CLIENT_SECRET, REFRESH_TOKEN, FakeGoogleOAuth
from tests.support import TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parents[2]
CODE = "4/fake-authorisation-code"
SECRETS = (ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET)
PROCESS_TIMEOUT_SECONDS = 30  # bounds a hung process only


@pytest.fixture
def oauth() -> Iterator[FakeGoogleOAuth]:
    fake = FakeGoogleOAuth(code=CODE, scope=" ".join(GMAIL_SCOPES))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def env(tmp_path: Path, oauth: FakeGoogleOAuth, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Settings for the script, from the environment only (no .env in the working directory)."""
    values = {
        "ENVIRONMENT": "test",
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "GOOGLE_CLIENT_SECRETS_FILE": str(oauth.write_client_secrets(tmp_path / "client.json")),
        "GOOGLE_TOKEN_FILE": str(tmp_path / "token.json"),
        # The fake token endpoint is plain http on loopback; Google's is https.
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
    }
    monkeypatch.chdir(tmp_path)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def invoke(*args: str, paste: str = "") -> Result:
    return CliRunner().invoke(gmail_auth.app, list(args), input=paste + "\n")


def assert_refused(result: Result, message: str, token_file: Path) -> None:
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not token_file.exists() or token_file.read_text() == "old"


def assert_token_file(path: Path, output: str) -> None:
    """0600, loadable by the Gmail adapter's loader, and nothing secret printed."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = json.loads(path.read_text())
    assert token["refresh_token"] == REFRESH_TOKEN
    assert token["scopes"] == list(GMAIL_SCOPES)
    assert not [secret for secret in SECRETS if secret in output]


def test_missing_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, oauth: FakeGoogleOAuth) -> None:
    monkeypatch.setenv("GOOGLE_TOKEN_FILE", "")
    result = invoke()
    assert result.exit_code == 2
    assert "set GOOGLE_CLIENT_SECRETS_FILE and GOOGLE_TOKEN_FILE" in result.output
    assert oauth.exchanges == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not readable JSON"),
        (json.dumps({"web": {"client_id": "x"}}), "is not a Desktop app OAuth client"),
        (json.dumps({"installed": {"client_id": "x"}}), "lacks client_secret, auth_uri, token_uri"),
    ],
)
def test_bad_client_secrets_file(env: dict[str, str], content: str | None, message: str) -> None:
    path = Path(env["GOOGLE_CLIENT_SECRETS_FILE"])
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    assert_refused(invoke(paste=CODE), message, Path(env["GOOGLE_TOKEN_FILE"]))


def test_refuses_to_overwrite_without_force(env: dict[str, str], oauth: FakeGoogleOAuth) -> None:
    token_file = Path(env["GOOGLE_TOKEN_FILE"])
    token_file.write_text("old")
    assert_refused(invoke(paste=CODE), "already exists; pass --force", token_file)
    assert oauth.exchanges == []  # refused before any consent


def test_write_never_replaces_a_file_that_appeared_during_the_consent(tmp_path: Path) -> None:
    token_file = tmp_path / "token.json"
    token_file.write_text("old")
    with pytest.raises(gmail_auth.AuthError, match="already exists"):
        gmail_auth.write_token(token_file, "{}", force=False)
    assert token_file.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]  # no temporary file left


def test_unwritable_token_directory(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token_file = tmp_path / "missing-dir" / "token.json"
    monkeypatch.setenv("GOOGLE_TOKEN_FILE", str(token_file))
    assert_refused(invoke(paste=CODE), "is not a writable directory", token_file)


def test_pasted_code_is_exchanged_and_written_0600(env: dict[str, str], oauth: FakeGoogleOAuth) -> None:
    token_file = Path(env["GOOGLE_TOKEN_FILE"])
    token_file.write_text("old")
    token_file.chmod(0o644)
    result = invoke("--force", paste=CODE)
    assert result.exit_code == 0, result.output
    assert "https://accounts.google.com/o/oauth2/auth?" in result.output
    (exchange,) = oauth.exchanges
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["code"] == CODE
    assert exchange["redirect_uri"] == f"http://localhost:{gmail_auth.DEFAULT_PORT}/"
    assert exchange["code_verifier"]  # PKCE
    assert_token_file(token_file, result.output)


def test_token_endpoint_refusing_the_code(env: dict[str, str], oauth: FakeGoogleOAuth) -> None:
    oauth.refuse = True
    assert_refused(invoke(paste=CODE), "Google refused the consent (invalid_grant)", Path(env["GOOGLE_TOKEN_FILE"]))


def test_narrower_grant_is_refused(env: dict[str, str], oauth: FakeGoogleOAuth) -> None:
    oauth.scope = "https://www.googleapis.com/auth/gmail.readonly"
    assert_refused(invoke(paste=CODE), "the consent did not grant", Path(env["GOOGLE_TOKEN_FILE"]))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"error": "access_denied"}, "the consent was not given (access_denied)"),
        ({"code": CODE, "state": "another-attempt"}, "state differs"),
    ],
)
def test_pasted_address_that_is_not_a_grant(
    env: dict[str, str], oauth: FakeGoogleOAuth, query: dict[str, str], message: str
) -> None:
    paste = f"http://localhost:{gmail_auth.DEFAULT_PORT}/?{urlencode(query)}"
    assert_refused(invoke(paste=paste), message, Path(env["GOOGLE_TOKEN_FILE"]))
    assert oauth.exchanges == []


def start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The script as a real process, up to the consent URL it prints (returned as its query parameters)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.gmail_auth", *args],
        cwd=Path(env["GOOGLE_TOKEN_FILE"]).parent,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("https://accounts.google.com/"):
            return process, {key: values[0] for key, values in parse_qs(urlsplit(line.strip()).query).items()}
    process.kill()
    raise AssertionError(f"no consent URL printed: {process.communicate()[1]}")


def finish(process: subprocess.Popen[str], paste: str = "") -> str:
    out, err = process.communicate(paste + "\n" if paste else None, timeout=PROCESS_TIMEOUT_SECONDS)
    assert process.returncode == 0, err
    return out + err


def test_pasted_redirect_address_in_a_real_process(env: dict[str, str], oauth: FakeGoogleOAuth) -> None:
    process, query = start(env)
    assert query["scope"] == " ".join(GMAIL_SCOPES)
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    output = finish(process, f"{query['redirect_uri']}?{urlencode({'state': query['state'], 'code': CODE})}")
    assert oauth.exchanges[0]["code"] == CODE
    assert_token_file(Path(env["GOOGLE_TOKEN_FILE"]), output)


def test_local_server_receives_the_redirect(env: dict[str, str], oauth: FakeGoogleOAuth) -> None:
    with bind_loopback() as sock:
        port = sock.getsockname()[1]
    process, query = start(env, "--local-server", "--port", str(port))
    assert query["redirect_uri"] == f"http://localhost:{port}/"
    # What the browser does after consent: follow Google's redirect to the local server.
    page = httpx.get(query["redirect_uri"], params={"state": query["state"], "code": CODE}, timeout=10)
    assert page.status_code == 200
    output = finish(process)
    assert_token_file(Path(env["GOOGLE_TOKEN_FILE"]), output)
