"""The stylesheets are whole: a rule left open (a bad merge) makes the browser drop every rule after it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from web.rendering import STATIC

COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def open_rule_at(css: str) -> int | None:
    """The line of the first `{` never closed (or of a stray `}`), else None."""
    opened: list[int] = []
    for number, line in enumerate(COMMENT.sub("", css).splitlines(), 1):
        for char in line:
            if char == "{":
                opened.append(number)
            elif char == "}":
                if not opened:
                    return number
                opened.pop()
    return opened[0] if opened else None


def test_a_rule_left_open_is_found() -> None:
    assert open_rule_at("a { color: red; }\nb {\n\nc { color: blue; }\n") == 2
    assert open_rule_at("@media (min-width: 1px) { a { b: c; } }\n/* { */\n") is None
    assert open_rule_at("a { b: c; } }") == 1


@pytest.mark.parametrize("path", sorted(STATIC.glob("*.css")), ids=lambda p: p.name)
def test_every_rule_of_the_stylesheet_is_closed(path: Path) -> None:
    assert open_rule_at(path.read_text(encoding="utf-8")) is None
