"""Start and stop the embedded SecantusDB server (a separate process) for `make run`, tests and benches."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger("medcampaign.embedded")


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _executable() -> str:
    beside_python = Path(sys.executable).parent / "secantusd-py"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("secantusd-py")
    if not found:
        raise RuntimeError(
            "secantusd-py not found: install the embedded database with "
            "`pip install -r requirements-embedded.txt`, or set MONGO_URI to a MongoDB server"
        )
    return found


class EmbeddedMongo:
    """A SecantusDB child process on a loopback port, its data under `storage_path`."""

    def __init__(self, storage_path: str | Path, *, port: int | None = None, log_path: str | Path | None = None):
        self.storage_path = Path(storage_path)
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else self.storage_path.parent / "secantusdb.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """Connection string of the running server."""
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def pid_path(self) -> Path:
        """Where the running server's process id is kept."""
        return self.storage_path.parent / f"{self.storage_path.name}.pid"

    def _stop_leftover(self) -> None:
        """Stop a server an earlier run left behind on the same data (it holds the storage lock)."""
        try:
            pid = int(self.pid_path.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            return
        if "secantusd" in cmdline and str(self.storage_path) in cmdline:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)

    def start(self, timeout: float = 60.0) -> str:
        """Start the server and wait until it answers ping; returns the URI."""
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        cmd = [
            _executable(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage_path),
            "--log-level",
            "WARNING",
            # A plain standalone server: the app uses neither change streams nor transactions, so the replica-set
            # oplog (one more write per modified document) would be pure cost.
            "--standalone",
        ]
        with open(self.log_path, "ab") as log_file:
            self._process = subprocess.Popen(
                cmd,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        self.pid_path.write_text(str(self._process.pid))
        self._wait_ready(timeout)
        log.info("embedded database started", extra={"port": self.port})
        return self.uri

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"SecantusDB exited with code {self._process.returncode}; see {self.log_path}")
            try:
                with MongoClient[dict[str, Any]](self.uri, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                    return
            except PyMongoError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"SecantusDB did not answer within {timeout:.0f}s; see {self.log_path}")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server cleanly (SIGTERM, then SIGKILL if it hangs)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        self.pid_path.unlink(missing_ok=True)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedMongo:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
