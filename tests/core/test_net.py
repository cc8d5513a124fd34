"""Client addresses as rate-limit buckets."""

from __future__ import annotations

import pytest

from core.net import ip_bucket


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_ip_bucket(address: str, bucket: str) -> None:
    assert ip_bucket(address) == bucket
