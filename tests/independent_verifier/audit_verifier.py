"""An audit report verifier written only from docs/audit-format.md, as an auditor would: it uses
the standard library, ``rfc8785`` and ``cryptography``, and nothing of the portal's code (a test
checks its imports). Section numbers refer to that document."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ZERO = "0" * 64
HASHED = (
    "id",
    "chain",
    "position",
    "occurred_at",
    "actor_type",
    "actor_id",
    "action",
    "subject_type",
    "subject_id",
    "thread_id",
    "details",
)
MEMBERS = {*HASHED, "prev_hash", "hash"}
DECISION_ACTIONS = {"dismissed": "dismissed", "escalated": "escalated"}


class Rejected(Exception):
    pass


def sha256hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(value: Any) -> bytes:
    return rfc8785.dumps(value)


def content_digest(content: dict[str, Any]) -> str:  # section 2
    keys = ("subject", "body", "body_format", "attachments")
    return sha256hex(canonical({key: content.get(key) for key in keys}))


def fingerprint(key: Ed25519PublicKey) -> str:  # section 3
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + sha256hex(der)


def verify(data: bytes, public_key_pem: bytes | None = None) -> dict[str, Any]:
    """Section 5, steps 1 and 3–10 (step 2, trust, is the caller's policy): the summary of an
    intact report, or Rejected naming the failure."""
    document = _load(data)
    report, seal = document.get("report"), document.get("seal")
    if not isinstance(report, dict) or not isinstance(seal, dict):
        raise Rejected("shape: report and seal must be objects")
    chain = report.get("chain")
    thread = report.get("thread")
    if not isinstance(chain, dict) or not isinstance(thread, dict):
        raise Rejected("shape: chain and thread must be objects")
    events = chain.get("events")
    if not isinstance(events, list) or chain.get("key") != f"thread:{thread.get('id')}":
        raise Rejected("shape: the chain is not the thread's")
    key = chain["key"]

    previous = ZERO  # step 4
    for index, event in enumerate(events):
        if not isinstance(event, dict) or set(event) != MEMBERS:
            raise Rejected(f"chain: event {index} does not have the 13 members")
        if type(event["position"]) is not int or event["position"] != index:
            raise Rejected(f"chain: event {index} has position {event['position']!r}")
        if event["chain"] != key or event["prev_hash"] != previous:
            raise Rejected(f"chain: event {index} is not linked to the one before")
        if not isinstance(event["details"], dict):
            raise Rejected(f"chain: event {index} has no details object")
        preimage = previous.encode("ascii") + canonical({name: event[name] for name in HASHED})
        if sha256hex(preimage) != event["hash"]:
            raise Rejected(f"chain: event {index} does not hash to its hash")
        previous = event["hash"]

    count = len(events)
    if report.get("head") != {"chain": key, "position": count - 1, "hash": previous}:
        raise Rejected("head: not the chain's last event")  # step 5
    unsigned_seal = {name: value for name, value in seal.items() if name != "signature"}
    if unsigned_seal != {  # step 6
        "chain": key,
        "events": count,
        "head_hash": previous,
        "head_position": count - 1,
        "report_sha256": seal.get("report_sha256"),
    }:
        raise Rejected("seal: does not describe the chain")
    signer = _signature(seal.get("signature"), unsigned_seal, public_key_pem)  # step 7
    unproven = _bindings(report, events)  # step 8
    if sha256hex(canonical(report)) != seal["report_sha256"]:  # step 9
        raise Rejected("digest: report_sha256 does not match the report")
    if canonical(document) != data:  # step 10
        raise Rejected("canonical: the file is not the canonical form of its content")
    return {"events": count, "head": previous, "signer": signer, "unproven": unproven}


def _load(data: bytes) -> dict[str, Any]:  # step 1
    def no_float(text: str) -> Any:
        raise Rejected(f"file: {text[:20]} is not an integer")

    def integer(text: str) -> int:
        if len(text.lstrip("-")) > 16:
            raise Rejected("file: an integer of more than 16 digits")
        return int(text)

    def no_constant(text: str) -> Any:
        raise Rejected(f"file: {text} is not allowed")

    try:
        document = json.loads(
            data.decode("utf-8"),
            parse_float=no_float,
            parse_int=integer,
            parse_constant=no_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Rejected(f"file: not UTF-8 JSON ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise Rejected("file: not an object")
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > 64:
            raise Rejected("file: nested more than 64 deep")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
            texts: list[Any] = list(value)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
            texts = []
        else:
            texts = [value]
        for text in texts:
            if isinstance(text, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in text):
                raise Rejected("file: a lone surrogate")
            if type(text) is int and abs(text) > 2**53 - 1:
                raise Rejected("file: an integer out of range")
    return document


def _signature(signature: Any, signed: dict[str, Any], given: bytes | None) -> str | None:
    if signature is None:
        if given is not None:
            raise Rejected("signature: the report is unsigned, a key was given")
        return None
    if not isinstance(signature, dict) or signature.get("algorithm") != "Ed25519":
        raise Rejected("signature: not Ed25519")
    try:
        key = serialization.load_pem_public_key(given or signature["public_key"].encode())
        value = base64.b64decode(signature["value"], validate=True)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise Rejected("signature: unreadable key or value") from None
    if not isinstance(key, Ed25519PublicKey):
        raise Rejected("signature: not an Ed25519 key")
    try:
        key.verify(value, canonical(signed))
    except InvalidSignature:
        raise Rejected("signature: does not verify") from None
    return fingerprint(key)


def _bindings(report: dict[str, Any], events: list[dict[str, Any]]) -> int:  # section 6
    def need(condition: bool, message: str) -> None:
        if not condition:
            raise Rejected(f"binding: {message}")

    def by_subject(action: str) -> dict[Any, list[dict[str, Any]]]:
        found: dict[Any, list[dict[str, Any]]] = {}
        for event in events:
            if event["action"] == action:
                found.setdefault(event["subject_id"], []).append(event)
        return found

    thread = report["thread"]
    messages = report.get("messages")
    need(isinstance(messages, list), "messages is a list")
    need(all(isinstance(m, dict) and isinstance(m.get("id"), str) for m in messages), "ids")
    ids = [m["id"] for m in messages]
    need(len(ids) == len(set(ids)), "each message listed once")

    sent = by_subject("message.sent")
    need(all(len(found) == 1 for found in sent.values()), "one message.sent per message")
    need(set(sent) == set(ids), "the messages are exactly those the chain sent")
    first_digest = min(
        (
            e["position"]
            for e in events
            if e["action"] == "message.sent" and "content_sha256" in e["details"]
        ),
        default=None,
    )
    digests = {
        e["subject_id"]: e["details"]["content_sha256"]
        for e in events
        if e["subject_type"] == "message" and "content_sha256" in e["details"]
    }
    purged, reads = by_subject("message.purged"), by_subject("message.read")
    removals, flagged = by_subject("message.removed"), by_subject("message.flagged")
    for event in events:  # a message.restored undoes every removal before it
        if event["action"] == "message.restored":
            later = [
                r
                for r in removals.pop(event["subject_id"], [])
                if r["position"] > event["position"]
            ]
            if later:
                removals[event["subject_id"]] = later
    parties = {thread.get("employer_id"), thread.get("candidate_id")}
    unproven = 0
    for message in messages:
        name = f"message {message['id']}"
        event = sent[message["id"]][0]
        details = event["details"]
        need(event["actor_type"] == "user", f"{name}: sent by a user")
        need(event["actor_id"] == message.get("sender_id"), f"{name}: sender")
        if "recipient_id" in details:
            need(details["recipient_id"] == message.get("recipient_id"), f"{name}: recipient")
        need({message.get("sender_id"), message.get("recipient_id")} == parties, f"{name}: parties")
        for member, field in (("message_type", "message_type"), ("sent_at", "sent_at")):
            if member in details:
                need(details[member] == message.get(field), f"{name}: {field}")
        content = message.get("content")
        if isinstance(content, dict):
            if "body_format" in details:
                need(details["body_format"] == content.get("body_format"), f"{name}: format")
            if "attachments" in details:
                attachments = content.get("attachments")
                need(
                    isinstance(attachments, list) and len(attachments) == details["attachments"],
                    f"{name}: attachments",
                )
            if "files" in details:
                files = [
                    {key: item.get(key) for key in ("id", "sha256", "size_bytes")}
                    for item in content.get("attachments") or []
                    if isinstance(item, dict) and "id" in item
                ]
                need(details["files"] == files, f"{name}: files")
        if message["id"] in purged:
            need(content is None and message.get("purged_at") is not None, f"{name}: purged")
        else:
            need(isinstance(content, dict), f"{name}: content")
            need(message.get("purged_at") is None, f"{name}: not purged")
            need(content_digest(content) == message.get("content_sha256"), f"{name}: digest")
            if message["id"] in digests:
                need(digests[message["id"]] == message["content_sha256"], f"{name}: chain digest")
            else:
                need(
                    first_digest is None or event["position"] < first_digest,
                    f"{name}: digest-less message.sent after digests",
                )
                unproven += 1
        read = reads.get(message["id"])
        need((read is None) == (message.get("read_at") is None), f"{name}: read or not")
        if read:
            need(read[-1]["actor_id"] == message.get("recipient_id"), f"{name}: reader")
            if "read_at" in read[-1]["details"]:
                need(read[-1]["details"]["read_at"] == message["read_at"], f"{name}: read_at")
        removal, removed = removals.get(message["id"]), message.get("removed")
        need((removal is None) == (removed is None), f"{name}: removed or not")
        if removal:
            last = removal[-1]
            need(isinstance(removed, dict), f"{name}: removed")
            if "reason" in last["details"]:
                need(last["details"]["reason"] == removed.get("reason"), f"{name}: reason")
            if "removed_at" in last["details"]:
                need(last["details"]["removed_at"] == removed.get("at"), f"{name}: removed at")
            need(
                removed.get("by")
                == {
                    "actor_type": last["actor_type"],
                    "actor_id": last["actor_id"],
                    "at": last["occurred_at"],
                    "details": last["details"],
                },
                f"{name}: removed by",
            )
        flag, shown = flagged.get(message["id"]), message.get("flagged")
        need((flag is None) == (shown is None), f"{name}: flagged or not")
        if flag:
            need(isinstance(shown, dict), f"{name}: flagged")
            for member, field in (("reason", "reason"), ("flagged_at", "at")):
                if member in flag[0]["details"]:
                    need(flag[0]["details"][member] == shown.get(field), f"{name}: flag {field}")

    flags = report.get("flags")
    need(isinstance(flags, list) and all(isinstance(f, dict) for f in flags), "flags")
    per_report: dict[Any, list[dict[str, Any]]] = {}
    in_force: dict[Any, list[dict[str, Any]]] = {}  # undone decisions and send-backs drop out
    for event in events:
        details = event["details"]
        if event["action"] == "message.flagged" and "report_id" in details:
            per_report.setdefault(details["report_id"], []).append(event)
        if isinstance(details.get("report_ids"), list):
            for report_id in details["report_ids"]:
                kept = in_force.setdefault(report_id, [])
                if "decision" in details:
                    kept.append(event)
                elif event["action"] == "moderation.undone":
                    kept[:] = [e for e in kept if e["id"] != details.get("undone_event_id")]
                elif event["action"] == "moderation.sent_back":
                    kept.clear()
    decisions = {key: kept[-1] for key, kept in in_force.items() if kept}
    need(set(per_report) <= {f.get("id") for f in flags}, "every recorded flag report listed")
    for flag in flags:
        recorded = per_report.get(flag.get("id"))
        if not recorded:
            continue
        name = f"flag {flag['id']}"
        need(flag.get("message_id") == recorded[0]["subject_id"], f"{name}: message")
        need(flag.get("reporter_id") == recorded[0]["actor_id"], f"{name}: reporter")
        need(flag.get("reason") == recorded[-1]["details"].get("reason"), f"{name}: reason")
        if "note" in recorded[0]["details"]:
            notes = [e["details"]["note"] for e in recorded if e["details"].get("note") is not None]
            need(flag.get("note") == (notes[-1] if notes else None), f"{name}: note")
        decision = decisions.get(flag["id"])
        if decision is None:
            need(flag.get("decision") is None and flag.get("decided_by_id") is None, name)
        else:
            decided = decision["details"]["decision"]
            need(flag.get("decision") == decided, f"{name}: decision")
            need(flag.get("decided_by_id") == decision["actor_id"], f"{name}: decided by")
            need(flag.get("status") == DECISION_ACTIONS.get(decided, "actioned"), f"{name}: status")

    holds = {h.get("id"): h for h in report.get("holds") or [] if isinstance(h, dict)}
    lifted = {e["subject_id"]: e for e in events if e["action"] == "hold.lifted"}
    for event in events:
        if event["action"] != "hold.placed":
            continue
        hold = holds.get(event["subject_id"])
        need(hold is not None, f"hold {event['subject_id']} listed")
        for member in ("scope", "thread_id", "reason", "case_reference"):
            need(hold.get(member) == event["details"].get(member), f"hold: {member}")
        placer = {"type": event["actor_type"], "id": event["actor_id"]}
        need(hold.get("placed_by") == placer, "hold: placed by")
        lift = lifted.get(event["subject_id"])
        need((lift is None) == (hold.get("lifted_at") is None), "hold: lifted or not")
        if lift:
            lifter = {"type": lift["actor_type"], "id": lift["actor_id"]}
            need(hold.get("lifted_by") == lifter, "hold: lifted by")
            need(hold.get("lifted_reason") == lift["details"].get("lifted_reason"), "hold: why")

    deletions = [e for e in events if e["action"] == "thread.deleted"]
    if all("role" in e["details"] for e in deletions):
        for role in ("employer", "candidate"):
            if f"deleted_by_{role}_at" not in thread:
                continue  # format 1
            mine = [e for e in deletions if e["details"]["role"] == role]
            value = thread.get(f"deleted_by_{role}_at")
            need(bool(mine) == (value is not None), f"deleted by the {role} or not")
            if mine and "deleted_at" in mine[-1]["details"]:
                need(mine[-1]["details"]["deleted_at"] == value, f"deleted by the {role} at")
        both = [e for e in deletions if e["details"].get("deleted_for_both") is True]
        need(bool(both) == (thread.get("is_deleted") is True), "deleted for both or not")
        if both and "deleted_at" in both[-1]["details"]:
            need(both[-1]["details"]["deleted_at"] == thread.get("deleted_at"), "deleted at")

    participants = report.get("participants")
    need(isinstance(participants, list) and len(participants) == 2, "two participants")
    need(
        [(p.get("id"), p.get("role")) for p in participants]
        == [(thread.get("employer_id"), "employer"), (thread.get("candidate_id"), "candidate")],
        "participants and their roles",
    )
    created = [e for e in events if e["action"] == "thread.created"]
    need(len(created) <= 1, "one thread.created")
    for event in created:
        for member in ("employer_id", "candidate_id", "application_id"):
            if member in event["details"] or member != "application_id":
                need(event["details"].get(member) == thread.get(member), f"thread {member}")
    application = report.get("application")
    if application is not None:
        need(
            (application.get("id"), application.get("employer_id"), application.get("candidate_id"))
            == (
                thread.get("application_id"),
                thread.get("employer_id"),
                thread.get("candidate_id"),
            ),
            "the thread's application",
        )
    recorded = [
        e
        for e in events
        if e["action"] in ("thread.created", "application.updated")
        and "application" in e["details"]
    ]
    if recorded:
        facts = recorded[-1]["details"]["application"]
        need(isinstance(facts, dict), "the chain's application facts are an object")
        need(
            facts.get("id") == thread.get("application_id"),
            "the chain's application is the thread's",
        )
        need(isinstance(application, dict), "the application the chain records is in the report")
        for member in ("id", "job_title", "status", "requisition_id"):
            need(application.get(member) == facts.get(member), f"application {member}")

    notes = {n.get("id"): n for n in report.get("notes") or [] if isinstance(n, dict)}
    noted = set()
    for event in events:
        if event["action"] == "moderation.note_added" and "note_id" in event["details"]:
            note = notes.get(event["details"]["note_id"])
            noted.add(event["details"]["note_id"])
            need(note is not None, "every recorded note listed")
            need(note.get("author_id") == event["actor_id"], "note author")
            need(note.get("message_id") == event["subject_id"], "note message")
            need(note.get("body") == event["details"].get("body"), "note body")
    need(
        all(n.get("message_id") is None or i in noted for i, n in notes.items()),
        "every note on a message recorded",
    )

    if "staff" in report:
        staff_ids = [s.get("id") for s in report["staff"]]
        need(all(isinstance(i, str) for i in staff_ids), "staff ids are strings")
        need(staff_ids == sorted(set(staff_ids)), "staff sorted and unique")
        actors = {e["actor_id"] for e in events if e["actor_type"] == "staff"}
        need(actors <= set(staff_ids), "every staff actor in the directory")
    return unproven
