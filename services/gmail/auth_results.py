"""Authentication-Results (RFC 8601): did the receiving mailbox authenticate the From domain of a message?"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MethodResult:
    """One `method=result` clause with its `ptype.property=value` pairs (names lower-cased)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthenticationResults:
    """A parsed Authentication-Results header."""

    authserv_id: str
    results: tuple[MethodResult, ...]


def _without_comments(text: str) -> str:
    """`text` with (nested) parenthesised comments removed; quoted strings and escapes respected. Linear."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif quoted:
            out.append(char)
            quoted = char != '"'
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
            quoted = char == '"'
    return "".join(out)


def _split_clauses(text: str) -> list[str]:
    """`text` split at each ';' outside quoted strings."""
    clauses: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            clauses.append("".join(current))
            current = []
        else:
            current.append(char)
    clauses.append("".join(current))
    return clauses


def _tokens(clause: str) -> list[str]:
    """The clause's `name=value` tokens, with any spacing around '=' and '.' removed (plain string work)."""
    joined = " ".join(clause.split())
    for spaced, tight in ((" =", "="), ("= ", "="), (" .", "."), (". ", ".")):
        joined = joined.replace(spaced, tight)
    return joined.split(" ") if joined else []


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """The header's authserv-id and method results; None when it has no authserv-id."""
    clauses = _split_clauses(_without_comments(value))
    head = clauses[0].split()
    if not head:
        return None
    results: list[MethodResult] = []
    for clause in clauses[1:]:
        tokens = _tokens(clause)
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        properties: dict[str, str] = {}
        for token in tokens[1:]:
            name, equals, item = token.partition("=")
            if equals and "." in name:
                properties.setdefault(name.lower(), item.strip('"'))
        results.append(MethodResult(method.split("/")[0].lower(), result.lower(), properties))
    return AuthenticationResults(authserv_id=head[0].lower(), results=tuple(results))


def _domain(value: str) -> str:
    """The domain of an address, `@domain` or bare domain, lower-cased."""
    return value.strip().strip("<>").rsplit("@", 1)[-1].rstrip(".").lower()


def from_domain_authenticated(header: str | None, *, from_address: str, authserv_id: str) -> bool:
    """True when `header` (the topmost Authentication-Results) comes from `authserv_id` and shows DMARC pass for
    the From domain, or an SPF or DKIM pass for exactly that domain."""
    if not header or "@" not in from_address:
        return False
    parsed = parse_authentication_results(header)
    if parsed is None or parsed.authserv_id != authserv_id.strip().lower():
        return False
    domain = _domain(from_address)
    for outcome in parsed.results:
        if outcome.result != "pass":
            continue
        props = outcome.properties
        if outcome.method == "dmarc" and _domain(props.get("header.from", domain)) == domain:
            return True
        if outcome.method == "dkim" and domain in {_domain(props.get(k, "")) for k in ("header.d", "header.i")}:
            return True
        if outcome.method == "spf" and _domain(props.get("smtp.mailfrom", "")) == domain:
            return True
    return False
