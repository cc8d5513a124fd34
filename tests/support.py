"""Helpers shared by tests: a live uvicorn server in a thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

from db.embedded import free_port

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


class LiveServer:
    """uvicorn serving an app on a free loopback port, in its own thread and event loop."""

    def __init__(self, app: FastAPI):
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until it accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Shut down and join."""
        self._server.should_exit = True
        self._thread.join(timeout=30)


async def staff_headers(
    http: Any, container: Any, *, email: str = "desk@clinic.test", role: Any = None
) -> dict[str, str]:
    """Create (or reset) a staff account in the container's database and log in through the API."""
    from core.security import hash_password
    from models.enums import Role

    password = "pw-1234567890"
    await container.repos.users.create_or_reset(
        email=email, password_hash=hash_password(password), role=role or Role.STAFF, now=container.clock.now()
    )
    response = await http.post("/api/v1/auth/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
