"""The offline verifier of a JSON audit report: no database, only the file (and optionally the
signer's public key). It names the first place that fails and why."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from portal.services.compliance.chain import (
    EVENT_FIELDS,
    GENESIS_HASH,
    canonical,
    content_digest,
    event_hash,
)
from portal.services.compliance.signing import (
    SigningKeyError,
    load_public_key,
    signature_valid,
)

EVENT_KEYS = frozenset(EVENT_FIELDS) | {"prev_hash", "hash"}


class VerificationFailed(Exception):
    """The export is not intact; the message names the first place that fails and why."""


@dataclass(frozen=True)
class Verified:
    events: int
    head: str
    signature: str  # "verified with the given key", "verified with the embedded key", "none"
    unproven_messages: int  # messages whose content no chain event carries a digest for


def verify_export(data: bytes, public_key: Ed25519PublicKey | None = None) -> Verified:
    document = _parse(data)
    report, seal = document.get("report"), document.get("seal")
    if not isinstance(report, dict) or not isinstance(seal, dict):
        raise VerificationFailed("not an audit report: 'report' and 'seal' objects expected")
    chain = _field(report, "chain", dict, "report")
    events = _field(chain, "events", list, "chain")
    key = _field(chain, "key", str, "chain")
    thread = _field(report, "thread", dict, "report")
    if key != f"thread:{thread.get('id')}":
        raise VerificationFailed(f"chain {key!r} is not the chain of thread {thread.get('id')}")

    head_hash = _verify_chain(key, events)
    head = {"chain": key, "position": len(events) - 1, "hash": head_hash}
    if report.get("head") != head:
        raise VerificationFailed(
            f"the report's head {report.get('head')} does not match the chain, which ends at "
            f"position {head['position']} with hash {head_hash} (events cut off or added?)"
        )
    unproven = _verify_messages(report.get("messages"), events)

    if hashlib.sha256(canonical(report)).hexdigest() != seal.get("report_sha256"):
        raise VerificationFailed(
            "the report was altered outside the chain: its SHA-256 differs from the seal's "
            "report_sha256"
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
        raise VerificationFailed(f"the seal {signed} does not match the chain {expected_seal}")
    _check_canonical(data, document)
    return Verified(
        events=len(events),
        head=head_hash,
        signature=_verify_signature(seal.get("signature"), signed, public_key),
        unproven_messages=unproven,
    )


def _parse(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationFailed(f"not UTF-8: byte {exc.start} is invalid") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerificationFailed(f"not valid JSON at character {exc.pos}: {exc.msg}") from None
    if not isinstance(document, dict):
        raise VerificationFailed("not an audit report: a JSON object expected")
    return document


def _field(container: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = container.get(name)
    if not isinstance(value, kind):
        raise VerificationFailed(f"{where}: '{name}' is missing or not a {kind.__name__}")
    return value


def _verify_chain(key: str, events: list[Any]) -> str:
    prev = GENESIS_HASH
    for index, event in enumerate(events):
        if not isinstance(event, dict) or set(event) != EVENT_KEYS:
            raise VerificationFailed(f"event #{index}: not an event (its fields were altered)")
        where = f"event at position {index} (id {event['id']}, {event['action']})"
        if event["position"] != index:
            raise VerificationFailed(
                f"{where}: it says position {event['position']}: an event before it was "
                "deleted, inserted or moved"
            )
        if event["chain"] != key:
            raise VerificationFailed(f"{where}: belongs to chain {event['chain']!r}, not {key!r}")
        if event["prev_hash"] != prev:
            raise VerificationFailed(
                f"{where}: prev_hash does not match the hash of the event before it"
            )
        try:
            recomputed = event_hash(prev, event)
        except Exception as exc:  # a value RFC 8785 cannot encode is itself an alteration
            raise VerificationFailed(f"{where}: cannot be encoded ({exc})") from None
        if recomputed != event["hash"]:
            raise VerificationFailed(f"{where}: its hash does not match its content (altered)")
        prev = event["hash"]
    return prev


def _verify_messages(messages: Any, events: list[dict[str, Any]]) -> int:
    """Each message's content against the digest the chain last recorded for it."""
    if not isinstance(messages, list):
        raise VerificationFailed("report: 'messages' is missing or not a list")
    digests: dict[str, str] = {}
    purged: set[str] = set()
    for event in events:
        details = event["details"] if isinstance(event["details"], dict) else {}
        if event["subject_type"] == "message" and "content_sha256" in details:
            digests[event["subject_id"]] = details["content_sha256"]
        if event["action"] == "message.purged":
            purged.add(event["subject_id"])
    unproven = 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise VerificationFailed(f"message #{index}: not an object")
        where = f"message #{index} (id {message.get('id')})"
        content = message.get("content")
        if content is None:
            if message.get("id") not in purged:
                raise VerificationFailed(f"{where}: has no content and no purge in the chain")
            continue
        if not isinstance(content, dict):
            raise VerificationFailed(f"{where}: content is not an object")
        digest = content_digest(content)
        if digest != message.get("content_sha256"):
            raise VerificationFailed(f"{where}: its content does not match its content_sha256")
        recorded = digests.get(message.get("id"))
        if recorded is None:
            unproven += 1
        elif recorded != digest:
            raise VerificationFailed(
                f"{where}: its content differs from the content the chain recorded"
            )
    return unproven


def _check_canonical(data: bytes, document: dict[str, Any]) -> None:
    expected = canonical(document)
    if data != expected:
        at = next(
            (i for i, (a, b) in enumerate(zip(data, expected, strict=False)) if a != b),
            min(len(data), len(expected)),
        )
        raise VerificationFailed(f"the file is not in canonical form (differs at byte {at})")


def _verify_signature(
    signature: Any, signed: dict[str, Any], public_key: Ed25519PublicKey | None
) -> str:
    if signature is None:
        if public_key is not None:
            raise VerificationFailed("the export is not signed, but a public key was given")
        return "none"
    if not isinstance(signature, dict) or signature.get("algorithm") != "Ed25519":
        raise VerificationFailed("seal: the signature is not an Ed25519 signature")
    key = public_key
    if key is None:
        try:
            key = load_public_key(str(signature.get("public_key", "")).encode())
        except SigningKeyError as exc:
            raise VerificationFailed(f"seal: the embedded public key is unusable ({exc})") from None
    if not signature_valid(key, signed, str(signature.get("value", ""))):
        raise VerificationFailed(
            "the signature does not match the seal: the export was altered or truncated, or "
            "signed by another key"
        )
    return (
        "verified with the given key"
        if public_key is not None
        else ("verified with the embedded key (give --public-key to check who signed)")
    )
