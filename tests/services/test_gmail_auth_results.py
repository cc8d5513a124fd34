"""Authentication-Results parsing and the From-domain decision the reply pipeline relies on."""

from __future__ import annotations

import pytest

from services.gmail.auth_results import from_domain_authenticated, parse_authentication_results
from tests.services.linearity import MAX_RATIO, fill, time_ratio

GMAIL = "mx.google.com"
# As Gmail writes it (folded lines unfolded by the MIME parser), with comments, a quoted reason and odd spacing.
REAL = (
    'mx.google.com;       dkim=pass header.i=@example.com header.s=20230601 header.b="Ab/Cd+Ef";'
    "       spf=pass (google.com: domain of ann@example.com designates 209.85.220.41 as permitted sender)"
    " smtp.mailfrom=ann@example.com;       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com"
)


def authenticated(header: str | None, sender: str = "ann@example.com") -> bool:
    return from_domain_authenticated(header, from_address=sender, authserv_id=GMAIL)


def test_gmails_header_parses_into_methods_and_properties() -> None:
    parsed = parse_authentication_results(REAL)
    assert parsed is not None and parsed.authserv_id == GMAIL
    assert [(r.method, r.result) for r in parsed.results] == [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")]
    assert parsed.results[0].properties["header.b"] == "Ab/Cd+Ef"
    assert parsed.results[1].properties["smtp.mailfrom"] == "ann@example.com"
    assert authenticated(REAL)


@pytest.mark.parametrize(
    "header",
    [
        "mx.google.com; dmarc=pass header.from=example.com",
        "mx.google.com; dmarc = pass (nested (comment)) header . from = example.com",
        "mx.google.com 1; dkim=pass header.d=example.com; dmarc=fail header.from=example.com",
        "mx.google.com; dkim=pass header.i=@example.com",
        "MX.Google.COM; spf=pass smtp.mailfrom=bounces@EXAMPLE.com",
        'mx.google.com; dkim=fail reason="a;b" header.d=example.com; spf=pass smtp.mailfrom=example.com',
    ],
)
def test_dmarc_or_aligned_spf_or_dkim_pass_authenticates(header: str) -> None:
    assert authenticated(header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "mx.google.com; none",
        "mx.google.com; dmarc=fail header.from=example.com; spf=softfail smtp.mailfrom=example.com",
        "mx.evil.example; dmarc=pass header.from=example.com",
        "mx.google.com; dmarc=pass header.from=evil.example",
        "mx.google.com; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=x@evil.example",
        "mx.google.com; dkim=pass header.d=sub.example.com; spf=pass smtp.mailfrom=example.com.evil.example",
        "mx.google.com; (dmarc=pass header.from=example.com) spf=fail",
        'mx.google.com; spf=fail reason="; dmarc=pass header.from=example.com"',
    ],
)
def test_anything_else_does_not(header: str | None) -> None:
    assert not authenticated(header)


def test_a_sender_without_a_domain_is_never_authenticated() -> None:
    assert not authenticated(REAL, sender="")
    assert not authenticated(REAL, sender="ann")


PATHOLOGICAL = {
    "nested comments": lambda n: "mx.google.com; " + "(" * n + "dmarc=pass",
    "whitespace around '='": lambda n: "mx.google.com; dmarc" + " " * n + "= pass",
    "many clauses": lambda n: "mx.google.com" + fill("; dkim=pass header.d=a.example", n),
    "one unterminated quote": lambda n: 'mx.google.com; spf=pass reason="' + "a;" * (n // 2),
}


@pytest.mark.parametrize("shape", list(PATHOLOGICAL))
def test_parsing_is_linear(shape: str) -> None:
    ratio = time_ratio(authenticated, PATHOLOGICAL[shape])
    assert ratio <= MAX_RATIO, f"{shape!r}: 10x the input took {ratio:.0f}x the time"
