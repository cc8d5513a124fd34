"""Rate-limit buckets of client addresses, the E.164 normaliser and the person-name check."""

from __future__ import annotations

import pytest

from core.names import clean_person_name
from core.net import ip_bucket
from core.phone import InvalidPhoneNumber, to_e164


@pytest.mark.parametrize(
    ("ip", "bucket"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
    ],
)
def test_ip_bucket_groups_ipv6_by_64(ip: str, bucket: str) -> None:
    assert ip_bucket(ip) == bucket


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(555) 123-4567", "US", "+15551234567"),
        ("555.123.4567", "US", "+15551234567"),
        ("+1 555 123 4567", "DE", "+15551234567"),
        ("0151 1234 5678", "DE", "+4915112345678"),
        ("+44 20 7946 0958", "US", "+442079460958"),
    ],
)
def test_to_e164_normalises_national_and_international_input(raw: str, region: str, e164: str) -> None:
    assert to_e164(raw, region=region) == e164


@pytest.mark.parametrize("raw", ["555-1234", "12", "+999 123456", "not a number", "+1 555 123 4567 ext. 9"])
def test_to_e164_refuses_incomplete_or_impossible_numbers(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        to_e164(raw, region="US")


@pytest.mark.parametrize("name", ["http://x.example", "x.example", "a@b.example", "A\tB", "A\u202eB", " "])
def test_clean_person_name_refuses_links_and_controls(name: str) -> None:
    with pytest.raises(ValueError, match="must"):
        clean_person_name(name)
