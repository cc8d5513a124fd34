"""A FastAPI app served by uvicorn on a free loopback port in its own thread: how the fakes of outside systems run."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI


def bind_loopback() -> socket.socket:
    """A TCP socket bound to a free loopback port, for a LiveServer to serve on (its URL known before the app)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


class LiveServer:
    """uvicorn serving an app on a free loopback port, in its own thread and event loop."""

    def __init__(self, app: FastAPI, *, sock: socket.socket | None = None):
        # Bound before uvicorn starts and handed to it, so the port is ours from the start (no free-port race).
        self._socket = sock or bind_loopback()
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

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
        self._socket.close()


class LoopbackFake:
    """A fake outside system served on loopback; a subclass builds its app and hands it to `serve`."""

    _server: LiveServer

    def serve(self, app: FastAPI) -> None:
        """Serve `app` (from start() on) on a free loopback port."""
        self._server = LiveServer(app)

    @property
    def url(self) -> str:
        """Base URL of the fake."""
        return self._server.url

    def start(self) -> None:
        """Start serving."""
        self._server.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()
