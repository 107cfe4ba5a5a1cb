"""Which links a message may carry: attachment URLs must name a public host.

The service never fetches these URLs, but recipients click them, so a link into the recipient's
own machine or network (a router's admin page, a local development server) is refused. Hosts are
read the way a browser reads them (the WHATWG URL standard): ``http://2130706433/``,
``http://0x7f.1/`` and ``http://127.1/`` are all 127.0.0.1. Host names are not resolved: a public
name whose DNS points somewhere private is not caught here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOCAL_NAMES: Final = ("localhost",)
LOCAL_SUFFIXES: Final = (".localhost", ".local", ".internal")

_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9A-Fa-f]*")


def _ipv4_number(part: str) -> int | None:
    """One dotted part as the WHATWG IPv4 parser reads it: 0x… hex, 0… octal, else decimal."""
    if _HEX.fullmatch(part):
        return int(part[2:] or "0", 16)
    if not _DECIMAL.fullmatch(part):
        return None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def _ends_in_a_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    return bool(_DECIMAL.fullmatch(last) or _HEX.fullmatch(last))


def _whatwg_ipv4(host: str) -> ipaddress.IPv4Address | None:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    *leading, last = [number for number in numbers if number is not None]
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last + sum(number * 256 ** (3 - index) for index, number in enumerate(leading))
    return ipaddress.IPv4Address(value)


def _kind(address: IPAddress) -> str | None:
    """Why ``address`` is not public, or None if it is."""
    if isinstance(address, ipaddress.IPv6Address):
        teredo = address.teredo[1] if address.teredo else None
        for embedded in (address.ipv4_mapped, address.sixtofour, teredo):
            if embedded is not None and (kind := _kind(embedded)) is not None:
                return kind
    for kind, applies in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if applies:
            return kind
    return None if address.is_global else "non-public"


def non_public_host(host: str) -> str | None:
    """Why a URL's host (as written between ``//`` and the port or path) is not a public one,
    or None if it is; e.g. ``"127.0.0.1 is a loopback address"``."""
    name = host.lower()
    if name.startswith("["):
        try:
            address: IPAddress = ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return f"{host} is not an IPv6 address"
    elif _ends_in_a_number(name):
        ipv4 = _whatwg_ipv4(name)
        if ipv4 is None:
            return f"{host} is not an IPv4 address"
        address = ipv4
    else:
        bare = name.rstrip(".")
        if not bare or ".." in bare:
            return f"{host} is not a host name"
        if bare in LOCAL_NAMES or bare.endswith(LOCAL_SUFFIXES):
            return f"{host} names a local host"
        return None
    kind = _kind(address)
    if kind is None:
        return None
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{host} is {article} {kind} address ({address})"
