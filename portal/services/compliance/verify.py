"""The offline verifier of a JSON audit report: no database, only the file (and optionally the
signer's public key). It names the first place that fails and why.

docs/audit-format.md states everything checked here, so that anyone can write their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from portal.services.compliance.binding import BindingFailed, check_bindings
from portal.services.compliance.chain import (
    EVENT_FIELDS,
    GENESIS_HASH,
    canonical,
    event_hash,
)
from portal.services.compliance.signing import (
    SigningKeyError,
    fingerprint,
    load_public_key,
    signature_valid,
)

DEFAULT_MAX_BYTES: Final = 1024**3
MAX_DEPTH: Final = 64  # a report nests about 8 deep; no legitimate one comes near
MAX_INTEGER: Final = 2**53 - 1  # RFC 8785 (I-JSON) integers; the portal writes no others
_MAX_DIGITS: Final = 16
EVENT_KEYS = frozenset(EVENT_FIELDS) | {"prev_hash", "hash"}
_EVENT_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "id": (str,),
    "chain": (str,),
    "position": (int,),
    "occurred_at": (str,),
    "actor_type": (str,),
    "actor_id": (str, type(None)),
    "action": (str,),
    "subject_type": (str,),
    "subject_id": (str, type(None)),
    "thread_id": (str, type(None)),
    "details": (dict,),
    "prev_hash": (str,),
    "hash": (str,),
}


class VerificationFailed(Exception):
    """The export is not intact; the message names the first place that fails and why."""


class NotAuthenticated(VerificationFailed):
    """The export may be intact, but nothing says who made it: it is unsigned, or signed by a
    key the verifier was not given."""


@dataclass(frozen=True)
class Verified:
    events: int
    head: str
    signature: str  # "verified with the given key", "verified with the embedded key …", "none"
    unproven_messages: int  # messages whose message.sent predates content digests
    signer: str | None = None  # the signing key's fingerprint, when signed
    chain: str = ""
    hashes: tuple[str, ...] = ()  # every event's hash, by position


def check_extends(later: Verified, earlier: Verified) -> None:
    """An earlier export of the same thread must be a prefix of a later one: the later chain
    holds the earlier head's hash at its position. A chain rewritten in between (by whoever
    could change the database and recompute its hashes) fails here."""
    if later.chain != earlier.chain:
        _fail(f"the earlier export is of chain {earlier.chain}, not {later.chain}")
    position = earlier.events - 1
    if position >= later.events:
        _fail(
            f"the earlier export has {earlier.events} events, the later only {later.events}: "
            "events were removed from the chain since"
        )
    if position >= 0 and later.hashes[position] != earlier.head:
        _fail(
            f"the chain was rewritten since the earlier export: its event at position "
            f"{position} had hash {earlier.head}, it now has {later.hashes[position]}"
        )


def read_report_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; anything else (a FIFO, a device, a
    directory, a larger file) is refused before it is read, and reading stops at the cap."""
    try:
        info = os.stat(path)
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        _fail(f"{path} is not a regular file")
    if info.st_size > max_bytes:
        _fail(f"{path} is {info.st_size} bytes, more than --max-bytes {max_bytes}")
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, opening does not wait.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            _fail(f"{path} is not a regular file")
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        _fail(f"{path} is more than --max-bytes {max_bytes} bytes")
    return data


def verify_export(
    data: bytes,
    public_key: Ed25519PublicKey | None = None,
    *,
    require_signature: bool = False,
) -> Verified:
    """Verifies an export; raises VerificationFailed naming the first problem.

    ``require_signature`` (the CLI's default): without ``public_key``, refuse (NotAuthenticated)
    an export that is unsigned or signed by any key, before looking further: only a key obtained
    from the operator out of band says who made it.
    """
    document = _parse(data)
    report, seal = document.get("report"), document.get("seal")
    if not isinstance(report, dict) or not isinstance(seal, dict):
        _fail("not an audit report: 'report' and 'seal' objects expected")
    signature = seal.get("signature")
    if require_signature and public_key is None:
        _refuse_unauthenticated(signature)
    chain = _field(report, "chain", dict, "report")
    events = _field(chain, "events", list, "chain")
    key = _field(chain, "key", str, "chain")
    thread = _field(report, "thread", dict, "report")
    if key != f"thread:{thread.get('id')}":
        _fail(f"chain {key!r} is not the chain of thread {thread.get('id')}")

    head_hash = _verify_chain(key, events)
    head = {"chain": key, "position": len(events) - 1, "hash": head_hash}
    if report.get("head") != head:
        _fail(
            f"the report's head {report.get('head')} does not match the chain, which ends at "
            f"position {head['position']} with hash {head_hash} (events cut off or added?)"
        )
    expected_seal = {
        "chain": key,
        "events": len(events),
        "head_hash": head_hash,
        "head_position": len(events) - 1,
        "report_sha256": seal.get("report_sha256"),
    }
    signed = {name: value for name, value in seal.items() if name != "signature"}
    if signed != expected_seal:
        _fail(f"the seal {signed} does not match the chain {expected_seal}")
    outcome, signer = _verify_signature(signature, signed, public_key)
    # The binding checks before the report's digest, so that an edited fact is named.
    try:
        unproven = check_bindings(report, events)
    except BindingFailed as exc:
        _fail(f"the report differs from its chain: {exc}")
    if hashlib.sha256(canonical(report)).hexdigest() != seal.get("report_sha256"):
        _fail(
            "the report was altered outside the chain: its SHA-256 differs from the seal's "
            "report_sha256"
        )
    _check_canonical(data, document)
    return Verified(
        events=len(events),
        head=head_hash,
        signature=outcome,
        unproven_messages=unproven,
        signer=signer,
        chain=key,
        hashes=tuple(event["hash"] for event in events),
    )


def _fail(message: str) -> NoReturn:
    raise VerificationFailed(message)


def _refuse_unauthenticated(signature: Any) -> NoReturn:
    if signature is None:
        raise NotAuthenticated(
            "the report is not signed, so nothing shows who made it (anyone can recompute an "
            "unsigned report's hashes); give --allow-unsigned to check its integrity anyway"
        )
    embedded = signature.get("public_key") if isinstance(signature, dict) else None
    try:
        signer = fingerprint(load_public_key(str(embedded).encode()))
    except SigningKeyError:
        signer = "an unreadable key"
    raise NotAuthenticated(
        f"the report is signed by {signer}, a key you did not give: get the operator's public "
        "key out of band (they run 'portal audit public-key'), compare its fingerprint, and "
        "give it with --public-key; or --allow-unsigned to check the report's integrity only"
    )


def _reject_float(text: str) -> NoReturn:
    _fail(f"not an audit report: the number {text[:20]} is not an integer")


def _reject_constant(text: str) -> NoReturn:
    _fail(f"not valid JSON: {text} is not a JSON value")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        _fail(f"not an audit report: a number with {len(text.lstrip('-'))} digits")
    return int(text)


def _parse(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"not UTF-8: byte {exc.start} is invalid")
    try:
        document = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        _fail(f"not valid JSON at character {exc.pos}: {exc.msg}")
    except RecursionError:
        _fail(f"not an audit report: nested more than {MAX_DEPTH} deep")
    if not isinstance(document, dict):
        _fail("not an audit report: a JSON object expected")
    _check_values(document)
    return document


def _check_values(document: dict[str, Any]) -> None:
    """Depth, integer range and strings (no lone surrogates, which UTF-8 cannot carry), walked
    without recursion so that no crafted file exhausts the stack."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            _fail(f"not an audit report: nested more than {MAX_DEPTH} deep")
        if isinstance(value, dict):
            for name, item in value.items():
                _check_text(name)
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not -MAX_INTEGER <= value <= MAX_INTEGER
        ):
            _fail(f"not an audit report: the integer {value} is out of range")


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        _fail(f"not an audit report: a string holds a lone surrogate at character {exc.start}")


def _field(container: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = container.get(name)
    if not isinstance(value, kind):
        _fail(f"{where}: '{name}' is missing or not a {kind.__name__}")
    return value


def _verify_chain(key: str, events: list[Any]) -> str:
    prev = GENESIS_HASH
    for index, event in enumerate(events):
        if not isinstance(event, dict) or set(event) != EVENT_KEYS:
            _fail(f"event #{index}: not an event (its fields were altered)")
        for name, kinds in _EVENT_TYPES.items():
            if not isinstance(event[name], kinds) or isinstance(event[name], bool):
                _fail(f"event #{index}: its {name} is not a {kinds[0].__name__}")
        where = f"event at position {index} (id {event['id']}, {event['action']})"
        if event["position"] != index:
            _fail(
                f"{where}: it says position {event['position']}: an event before it was "
                "deleted, inserted or moved"
            )
        if event["chain"] != key:
            _fail(f"{where}: belongs to chain {event['chain']!r}, not {key!r}")
        if event["prev_hash"] != prev:
            _fail(f"{where}: prev_hash does not match the hash of the event before it")
        if event_hash(prev, event) != event["hash"]:
            _fail(f"{where}: its hash does not match its content (altered)")
        prev = event["hash"]
    return prev


def _check_canonical(data: bytes, document: dict[str, Any]) -> None:
    expected = canonical(document)
    if data != expected:
        at = next(
            (i for i, (a, b) in enumerate(zip(data, expected, strict=False)) if a != b),
            min(len(data), len(expected)),
        )
        _fail(f"the file is not in canonical form (differs at byte {at})")


def _verify_signature(
    signature: Any, signed: dict[str, Any], public_key: Ed25519PublicKey | None
) -> tuple[str, str | None]:
    if signature is None:
        if public_key is not None:
            _fail("the export is not signed, but a public key was given")
        return "none", None
    if not isinstance(signature, dict) or signature.get("algorithm") != "Ed25519":
        _fail("seal: the signature is not an Ed25519 signature")
    key = public_key
    if key is None:
        try:
            key = load_public_key(str(signature.get("public_key", "")).encode())
        except SigningKeyError as exc:
            _fail(f"seal: the embedded public key is unusable ({exc})")
    if not signature_valid(key, signed, str(signature.get("value", ""))):
        _fail(
            "the signature does not match the seal: the export was altered or truncated, or "
            "signed by another key"
        )
    if public_key is not None:
        return "verified with the given key", fingerprint(key)
    return (
        "verified with the embedded key, which proves nothing about who signed (give --public-key)",
        fingerprint(key),
    )
