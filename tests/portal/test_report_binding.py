"""A report's tables are bound to its chain: an edit of a fact the chain records, with the
report's digest (and, for a forger with their own key, the signature) recomputed, is rejected
by ``portal audit verify``; an unsigned report is not even considered without --allow-unsigned."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.services.blocks import block_user, unblock_user
from portal.services.compliance.chain import canonical, content_digest, event_hash
from portal.services.compliance.reports import stream_report
from portal.services.compliance.signing import load_public_key, sign
from portal.services.compliance.verify import VerificationFailed, verify_export
from portal.services.messaging import mark_read
from portal.settings import Settings
from server.cli import main
from tests.conftest import settings_with
from tests.portal.compliance_world import World, build_world
from tests.portal.test_audit_verify import private_key_pem, public_key_pem

Report = dict[str, Any]
OPERATOR_KEY = Ed25519PrivateKey.generate()
FORGER_KEY = Ed25519PrivateKey.generate()


async def richer_world(session: AsyncSession, settings: Settings) -> World:
    """The compliance world, with a read receipt and a block lifted between the parties."""
    world = await build_world(session, settings_with(settings, rate_limit_messages=100))
    await mark_read(session, world.employer, world.messages[1].id)  # the candidate deleted it
    await block_user(session, world.candidate, world.employer.id, reason="spam")
    await unblock_user(session, world.candidate, world.employer.id)
    return world


async def export(engine: AsyncEngine, settings: Settings, world: World) -> bytes:
    report = await stream_report(
        create_sessionmaker(engine),
        world.thread_id,
        "json",
        actor=Actor.staff(world.officer.id),
        settings=settings,
    )
    return b"".join([chunk async for chunk in report.chunks])


def resealed(data: bytes, edit: Callable[[Report], None], key: Any = None) -> bytes:
    """The forger's work: edit the report, recompute its digest and (with their own key, as
    they do not hold the operator's) the signature; an unsigned report stays unsigned."""
    document = json.loads(data)
    edit(document["report"])
    seal = document["seal"]
    seal["report_sha256"] = hashlib.sha256(canonical(document["report"])).hexdigest()
    signed = {name: value for name, value in seal.items() if name != "signature"}
    seal["signature"] = sign(key, signed) if seal.get("signature") and key else None
    return canonical(document)


def rechained(document: dict[str, Any]) -> bytes:
    """Every event hash, the head and the seal recomputed after editing events."""
    report, seal = document["report"], document["seal"]
    prev = "0" * 64
    for event in report["chain"]["events"]:
        event["prev_hash"] = prev
        event["hash"] = prev = event_hash(prev, event)
    report["head"]["hash"] = seal["head_hash"] = prev
    seal["report_sha256"] = hashlib.sha256(canonical(report)).hexdigest()
    return canonical(document)


def message(report: Report, message_id: uuid.UUID) -> dict[str, Any]:
    return next(m for m in report["messages"] if m["id"] == str(message_id))


def later(timestamp: str) -> str:
    return (datetime.fromisoformat(timestamp) + timedelta(seconds=1)).isoformat(
        timespec="microseconds"
    )


def failure(data: bytes, **kwargs: Any) -> str:
    with pytest.raises(VerificationFailed) as raised:
        verify_export(data, **kwargs)
    return str(raised.value)


def edits(world: World) -> dict[str, tuple[Callable[[Report], None], str]]:
    """Each edit of a fact the chain records, and what the rejection names."""
    first, second, removed = world.messages[1].id, world.messages[3].id, world.removed.id

    def inject(report: Report) -> None:
        forged = copy.deepcopy(message(report, second))
        forged.update(id=str(uuid.uuid4()), read_at=None, flagged=None, removed=None)
        forged["content"]["body"] = "I withdraw my complaint"
        forged["content_sha256"] = content_digest(forged["content"])
        report["messages"].append(forged)

    def drop_removed(report: Report) -> None:
        report["messages"].remove(message(report, removed))

    def swap(report: Report) -> None:
        entry = message(report, second)
        entry["sender_id"], entry["recipient_id"] = entry["recipient_id"], entry["sender_id"]

    def setter(get: Callable[[Report], dict[str, Any]], name: str, value: Any) -> Callable:
        def edit(report: Report) -> None:
            target = get(report)
            target[name] = value(target[name]) if callable(value) else value

        return edit

    def other_application(report: Report) -> None:
        other = str(uuid.uuid4())
        report["thread"]["application_id"] = report["application"]["id"] = other

    def swap_roles(report: Report) -> None:
        employer, candidate = report["participants"]
        employer["role"], candidate["role"] = candidate["role"], employer["role"]

    return {
        "injected message": (inject, "no message.sent for it"),
        "dropped removed message": (drop_removed, "does not list"),
        "swapped sender and recipient": (swap, "is not the sender"),
        "read time": (setter(lambda r: message(r, first), "read_at", later), "read_at"),
        "read receipt erased": (setter(lambda r: message(r, first), "read_at", None), "read_at"),
        "sent time": (setter(lambda r: message(r, second), "sent_at", later), "sent_at"),
        "removal reason": (
            setter(lambda r: message(r, removed)["removed"], "reason", "spam"),
            "removal reason",
        ),
        "removal time": (
            setter(lambda r: message(r, removed)["removed"], "at", later),
            "removal time",
        ),
        "removal erased": (setter(lambda r: message(r, removed), "removed", None), "removed"),
        "flag erased": (setter(lambda r: message(r, removed), "flagged", None), "flagged"),
        "flag report reason": (setter(lambda r: r["flags"][0], "reason", "spam"), "reason"),
        "flag report dropped": (lambda r: r["flags"].clear(), "does not list"),
        "flag decided by someone else": (
            setter(lambda r: r["flags"][0], "decided_by_id", str(world.officer.id)),
            "decided_by_id",
        ),
        "roles swapped": (swap_roles, "participants"),
        "requisition": (
            setter(lambda r: r["application"], "requisition_id", "REQ-2"),
            "application.requisition_id",
        ),
        "job title": (
            setter(lambda r: r["application"], "job_title", "Senior Engineer"),
            "application.job_title",
        ),
        "application status": (
            setter(lambda r: r["application"], "status", "rejected"),
            "application.status",
        ),
        "application id": (other_application, "application_id"),
        "hold dropped": (lambda r: r["holds"].clear(), "missing from the report"),
        "hold case reference": (
            setter(lambda r: r["holds"][0], "case_reference", "none"),
            "case_reference",
        ),
        "deletion erased": (
            setter(lambda r: r["thread"], "deleted_by_candidate_at", None),
            "deleted_by_candidate_at",
        ),
        "moderator note body": (
            lambda r: r["notes"].append(
                {
                    "id": str(uuid.uuid4()),
                    "author_id": str(world.moderator.id),
                    "message_id": str(removed),
                    "flag_report_id": None,
                    "user_id": None,
                    "body": "the candidate apologised",
                    "at": r["generated_at"],
                }
            ),
            "not in the chain",
        ),
    }


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await richer_world(session, settings)


async def test_every_recorded_fact_is_bound_in_unsigned_and_signed_reports(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    unsigned = await export(engine, settings, world)
    signed_settings = settings_with(settings, audit_signing_key=private_key_pem(OPERATOR_KEY))
    signed = await export(engine, signed_settings, world)
    operator = load_public_key(public_key_pem(OPERATOR_KEY))
    assert verify_export(unsigned).unproven_messages == 0
    assert verify_export(signed, operator).signature == "verified with the given key"
    report = json.loads(signed)["report"]
    assert message(report, world.messages[1].id)["read_at"] is not None
    assert report["flags"] and report["holds"] and report["notes"] == []

    for name, (edit, named) in edits(world).items():
        forged = resealed(unsigned, edit)
        # Integrity alone (what --allow-unsigned asks for) already rejects the edit …
        assert named in failure(forged), name
        # … and a signed report's forger, who signs with their own key, is rejected twice:
        # by the binding checks, and by the operator's key.
        forged = resealed(signed, edit, FORGER_KEY)
        assert named in failure(forged), name
        assert "signature does not match" in failure(forged, public_key=operator), name


async def test_the_cli_refuses_injected_and_dropped_messages(
    engine: AsyncEngine, settings: Settings, world: World, tmp_path: Path
) -> None:
    signed_settings = settings_with(settings, audit_signing_key=private_key_pem(OPERATOR_KEY))
    key_file = tmp_path / "operator.pem"
    key_file.write_bytes(public_key_pem(OPERATOR_KEY))
    runner = CliRunner()

    def verify(data: bytes, *options: str) -> Any:
        path = tmp_path / "report.json"
        path.write_bytes(data)
        return runner.invoke(main, ["audit", "verify", str(path), *options])

    unsigned = await export(engine, settings, world)
    signed = await export(engine, signed_settings, world)
    assert verify(signed, "--public-key", str(key_file)).exit_code == 0
    assert verify(unsigned, "--allow-unsigned").exit_code == 0

    refused = verify(signed)  # signed, but by a key the verifier was not given
    assert refused.exit_code == 3 and "a key you did not give" in refused.stderr
    for name in ("injected message", "dropped removed message"):
        edit, named = edits(world)[name]
        forged = verify(resealed(unsigned, edit))
        assert forged.exit_code == 3 and "not signed" in forged.stderr, name
        forged = verify(resealed(unsigned, edit), "--allow-unsigned")
        assert forged.exit_code == 2 and named in forged.stderr, name
        forged = verify(resealed(signed, edit, FORGER_KEY), "--public-key", str(key_file))
        assert forged.exit_code == 2 and "signature does not match" in forged.stderr, name
        forged = verify(resealed(signed, edit, FORGER_KEY), "--allow-unsigned")
        assert forged.exit_code == 2 and named in forged.stderr, name
        assert "Traceback" not in forged.output


async def test_the_seal_is_compared_with_the_chain(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    document = json.loads(await export(engine, settings, world))
    document["seal"]["head_hash"] = "f" * 64
    assert "does not match the chain" in failure(canonical(document))
    document = json.loads(await export(engine, settings, world))
    document["seal"]["events"] -= 1
    assert "does not match the chain" in failure(canonical(document))


async def test_a_message_without_digest_is_unproven_only_before_digests(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    data = await export(engine, settings, world)

    def sent_events(document: dict[str, Any]) -> list[dict[str, Any]]:
        events = document["report"]["chain"]["events"]
        return [e for e in events if e["action"] == "message.sent"]

    # A chain recorded before content digests: no message.sent has the key at all.
    old = json.loads(data)
    for event in sent_events(old):
        del event["details"]["content_sha256"]
    # The removed message stays proven by its message.removed event's digest.
    assert verify_export(rechained(old)).unproven_messages == 3

    # One digest-less message.sent after a digest-bearing one: not from before digests.
    late = json.loads(data)
    del sent_events(late)[-1]["details"]["content_sha256"]
    message_id = sent_events(late)[-1]["subject_id"]
    assert f"id {message_id}" in failure(rechained(late))
    assert "only events recorded before content digests" in failure(rechained(late))


async def test_reports_name_staff_blocks_and_deletions(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    report = json.loads(await export(engine, settings, world))["report"]
    assert report["format"] == "portal-audit-report/2"
    staff = {entry["id"]: entry for entry in report["staff"]}
    assert [entry["id"] for entry in report["staff"]] == sorted(staff)
    assert staff[str(world.moderator.id)] == {
        "id": str(world.moderator.id),
        "name": "Moderator One",
        "email": world.moderator.email,
        "role": "moderator",
    }
    assert staff[str(world.officer.id)]["role"] == "compliance"  # placed the hold, exported
    [block] = report["blocks"]
    assert block["blocker_id"] == str(world.candidate.id)
    assert block["blocked_id"] == str(world.employer.id)
    assert block["reason"] == "spam" and block["created_at"] <= block["removed_at"]
    assert report["thread"]["deleted_by_candidate_at"] is not None
    assert report["thread"]["deleted_by_employer_at"] is None


async def test_a_report_of_the_previous_format_still_verifies(
    engine: AsyncEngine, settings: Settings, world: World
) -> None:
    """What an export made before this version looks like: format 1, without the staff
    directory, blocks and deletion times, its events without the details added since."""
    document = json.loads(await export(engine, settings, world))
    report = document["report"]
    report["format"] = "portal-audit-report/1"
    for name in ("staff", "blocks"):
        del report[name]
    for name in ("deleted_by_employer_at", "deleted_by_candidate_at"):
        del report["thread"][name]
    added = ("sent_at", "read_at", "removed_at", "flagged_at", "deleted_at")
    copies = [m["removed"]["by"] for m in report["messages"] if m["removed"]]
    for event in report["chain"]["events"] + copies:
        for name in added:
            event["details"].pop(name, None)
    verified = verify_export(rechained(document))
    assert verified.events == len(report["chain"]["events"])
