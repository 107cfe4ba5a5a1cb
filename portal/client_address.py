"""The address a request came from: the peer, or what a trusted proxy says the peer was.

``X-Forwarded-For`` is believed only from peers listed in ``PORTAL_TRUSTED_PROXIES`` (none by
default): from anyone else it is a header the client wrote, and believing it let a client pick
a fresh address for the sign-in throttle on every attempt. Behind trusted proxies the client is
the right-most address of the header that is not itself a trusted proxy (each proxy appends the
peer it saw; entries left of that were written by the client).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from litestar.connection import ASGIConnection

UNKNOWN = "unknown"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(trusted_proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted_proxies)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: tuple[IPNetwork, ...]
) -> bool:
    return any(address in network for network in proxies)


def client_address(
    connection: ASGIConnection[Any, Any, Any, Any], trusted_proxies: tuple[str, ...]
) -> str:
    """``trusted_proxies``: IP addresses and networks (``Settings.trusted_proxies``)."""
    proxies = _networks(trusted_proxies)
    peer = connection.client.host if connection.client else ""
    peer_ip = _ip(peer)
    if peer_ip is None:
        return peer or UNKNOWN
    if not proxies or not _trusted(peer_ip, proxies):
        return str(peer_ip)
    forwarded = ",".join(connection.headers.getall("x-forwarded-for", []))
    client = peer_ip
    for entry in reversed([part for part in forwarded.split(",") if part.strip()]):
        hop = _ip(entry)
        if hop is None:  # not an address: nothing left of it can be believed
            break
        client = hop
        if not _trusted(hop, proxies):
            break
    return str(client)
