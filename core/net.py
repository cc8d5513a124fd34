"""Client addresses as rate limits see them."""

from __future__ import annotations

import ipaddress

IPV6_BUCKET_PREFIX = 64


def ip_bucket(ip: str) -> str:
    """The rate-limit bucket of an address: an IPv4 address itself, an IPv6 address its /64 network.

    One IPv6 subscriber usually holds a whole /64, so counting single addresses would let one client rotate
    through 2**64 of them. IPv4-mapped IPv6 addresses count as their IPv4 address; text that is not an
    address is its own bucket.
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0].strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_BUCKET_PREFIX), strict=False))
    return str(address)
