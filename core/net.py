"""Client addresses as rate-limit keys."""

from __future__ import annotations

import ipaddress

IPV6_BUCKET_PREFIX = 64


def ip_bucket(ip: str) -> str:
    """The rate-limit bucket of an address: IPv4 as is, IPv6 by its /64 (one subscriber owns a whole /64)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_BUCKET_PREFIX), strict=False))
    return str(address)
