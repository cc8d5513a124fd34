"""docker-compose.yml: the web app and the follow-up worker run from the same image with the same settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def services() -> dict[str, Any]:
    parsed = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(parsed["services"])


def test_compose_runs_a_worker_beside_the_web_app() -> None:
    app, worker = services()["app"], services()["worker"]
    assert worker["command"] == ["python", "-m", "scripts.run_worker"]
    for key in ("build", "image", "env_file", "depends_on", "restart"):
        assert worker[key] == app[key], key
    shared = {k: v for k, v in app["environment"].items() if k != "WORKER_ENABLED"}
    assert worker["environment"] == shared and shared["ENVIRONMENT"] == "production"
    # The web instances leave follow-ups to the worker service; the worker serves no port.
    assert app["environment"]["WORKER_ENABLED"] == "false"
    assert "ports" not in worker and worker["healthcheck"] == {"disable": True}
