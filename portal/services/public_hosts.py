"""Which links a message may carry: attachment URLs must name a public host.

The service never fetches these URLs, but recipients click them, so a link into the recipient's
own machine or network (a router's admin page, a local development server) is refused. Such
links mostly name an address, and a browser reads many spellings as one (the WHATWG URL standard:
``http://2130706433/``, ``http://0x7f.1/`` and ``http://127.1/`` are all 127.0.0.1), so the rule
is one a JSON Schema pattern can state exactly: the host must be a name, never an IP address
literal, and not ``localhost``, ``*.localhost``, ``*.local`` or ``*.internal``. Host names are not
resolved: a public name whose DNS points somewhere private is not caught here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

LOCAL_NAMES: Final = ("localhost", "local", "internal")


def _any_case(word: str) -> str:
    # ECMAScript patterns have no inline (?i) flag.
    return "".join(f"[{c.upper()}{c}]" for c in word)


_LABEL: Final = r"[A-Za-z0-9-]+"
# A DNS name whose last label starts with a letter, so that it can never be read as an IPv4
# address; optionally with the root's trailing dot.
HOST_NAME_PATTERN: Final = rf"(?:{_LABEL}\.)*[A-Za-z][A-Za-z0-9-]*\.?"
# Put right before the host: refuses the local names and every name under them.
NOT_LOCAL_PATTERN: Final = (
    rf"(?!(?:{_LABEL}\.)*(?:{'|'.join(map(_any_case, LOCAL_NAMES))})\.?(?![A-Za-z0-9.-]))"
)
PUBLIC_HOST_PATTERN: Final = NOT_LOCAL_PATTERN + HOST_NAME_PATTERN

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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


def host_problem(host: str) -> str | None:
    """Why a URL's host (as written between ``//`` and the port or path) may not be linked to,
    or None if it may; e.g. ``"127.1 is an IP address (127.0.0.1, loopback); …"``. The same rule as
    PUBLIC_HOST_PATTERN, in words."""
    name = host.lower()
    address: IPAddress | None = None
    if name.startswith("["):
        try:
            address = ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return f"{host} is not an IPv6 address"
    elif _ends_in_a_number(name):
        address = _whatwg_ipv4(name)
        if address is None:
            return f"{host} is not a host name"
    if address is not None:
        kind = _kind(address)
        which = f" ({address}, {kind})" if kind else ""
        return f"{host} is an IP address{which}; links must name their host"
    if not re.fullmatch(HOST_NAME_PATTERN, host):
        return f"{host} is not a host name"
    bare = name.rstrip(".")
    if any(bare == local or bare.endswith("." + local) for local in LOCAL_NAMES):
        return f"{host} names a local host"
    return None
