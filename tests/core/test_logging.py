"""The log filter: an allow-list of extra fields, scrubbed values, JSON lines."""

from __future__ import annotations

import ast
import io
import json
import logging
from pathlib import Path

from core.logging import ALLOWED_EXTRA_KEYS, REDACTED, make_handler


def _log(**extra: object) -> dict[str, object]:
    stream = io.StringIO()
    logger = logging.getLogger("medcampaign.test.logging")
    handler = make_handler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("event", extra=extra)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    record: dict[str, object] = json.loads(stream.getvalue())
    return record


def test_fields_outside_the_allow_list_are_redacted_whatever_their_name() -> None:
    record = _log(diagnosis="root canal on tooth 36", patient_name="Ann Lee", campaign_id="c1", attempts=2)
    assert record["diagnosis"] == REDACTED and record["patient_name"] == REDACTED
    assert record["campaign_id"] == "c1" and record["attempts"] == 2


def test_allowed_fields_are_still_scrubbed_of_contact_data() -> None:
    record = _log(reason="rejected ann.lee@example.com, +15551234567")
    assert "ann.lee@example.com" not in str(record["reason"]) and "+15551234567" not in str(record["reason"])


def test_every_extra_field_the_code_logs_is_a_decided_one() -> None:
    root = Path(__file__).resolve().parents[2]
    used: set[str] = set()
    for path in root.rglob("*.py"):
        if {".venv", "var", "tests"} & set(path.relative_to(root).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "extra" and isinstance(node.value, ast.Dict):
                used |= {k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    assert used - ALLOWED_EXTRA_KEYS == set(), "list them in core/logging.ALLOWED_EXTRA_KEYS once they hold no PHI"
