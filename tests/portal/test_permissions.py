"""The one permission model (portal/permissions.py): what each staff role, the console's operator
and the other actors may do, and that every service that changes or exports something asks it.

Without HTTP: the grant table and the stage × role rule are checked as data (once, no database);
then each such service is called with every kind of actor, on both databases, and must succeed
exactly when the predicate allows and otherwise refuse (Forbidden) having recorded nothing. The
dashboard's guards and the console's operator check are asked the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.exceptions import PermissionDeniedException
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dashboard.staff_auth import requires
from portal import permissions
from portal.audit import Actor
from portal.database import create_sessionmaker, read_transaction, write_transaction
from portal.errors import AlreadyDecided, Forbidden, PortalError
from portal.models import Message, RateLimitViolation, StaffUser
from portal.models.base import new_id, utcnow
from portal.permissions import Capability, Who, may, may_decide, may_release_claim
from portal.services import (
    appeals,
    moderation,
    notices,
    panel_exports,
    rate_limit,
    suspensions,
)
from portal.services import staff as staff_service
from portal.services.applications import upsert_application
from portal.services.compliance import checkpoints, holds, reports, retention, staff_activity
from portal.services.users import create_user, upsert_user
from portal.settings import Settings
from server.cli import _operator
from tests.conftest import settings_with
from tests.portal.moderation_support import audit_count, report, send, staff, user

ROLES = ("moderator", "compliance", "admin")
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _staff(role: str, *, active: bool = True) -> StaffUser:
    return StaffUser(id=uuid.uuid4(), email=f"{role}@x.example", role=role, is_active=active)


# --- the rules, as data -------------------------------------------------------------------------

M, C, A = "moderator", "compliance", "admin"
CONSOLE, SYSTEM, SERVICE, USER = "console", "system", "service", "user"
# Who may what: the table a reader checks against the product's rules (docs: roles).
EXPECTED: dict[Capability, set[str]] = {
    Capability.READ_QUEUE: {M, C, A},
    Capability.ADD_NOTE: {M, C, A},
    Capability.CLAIM: {M, A},
    Capability.RELEASE_ANY_CLAIM: {A},
    Capability.DECIDE: {M, C, A},
    Capability.DECIDE_OPEN: {M, A},
    Capability.DECIDE_ESCALATED: {C, A},
    Capability.ESCALATE: {M, A},
    Capability.MODERATE_USERS: {M, A},
    Capability.READ_COMPLIANCE: {C, A},
    Capability.EXPORT: {C, A, CONSOLE, SYSTEM},
    Capability.PLACE_HOLD: {C, A, CONSOLE, SYSTEM},
    Capability.LIFT_HOLD: {C, A, CONSOLE, SYSTEM},
    Capability.PURGE: {C, A, CONSOLE, SYSTEM},
    Capability.CHECKPOINT: {C, A, CONSOLE, SYSTEM},
    Capability.MANAGE_STAFF: {A, CONSOLE, SYSTEM},
    Capability.PROVISION: {A, CONSOLE, SYSTEM, SERVICE},
    Capability.DECIDE_APPEAL: {M, A},
    Capability.MANAGE_POLICIES: {A},
    Capability.READ_STAFF_FIGURES: {A},
    Capability.REVIEW_RETALIATION: {C, A},
}
PURE_ACTORS: dict[str, Who] = {
    M: _staff(M),
    C: _staff(C),
    A: _staff(A),
    CONSOLE: Actor.console(),
    SYSTEM: Actor.system(),
    SERVICE: Actor.service(),
    USER: Actor.user(uuid.uuid4()),
}


@pytest.mark.parametrize("capability", list(Capability), ids=lambda c: c.name)
def test_who_may_what(capability: Capability) -> None:
    assert set(EXPECTED) == set(Capability)
    allowed = {name for name, who in PURE_ACTORS.items() if may(who, capability)}
    assert allowed == EXPECTED[capability]
    assert set(permissions.roles_for(capability)) == EXPECTED[capability] & set(ROLES)
    for role in ROLES:  # a deactivated account may nothing, whatever its role
        assert not may(_staff(role, active=False), capability)
        with pytest.raises(Forbidden):
            permissions.require(_staff(role, active=False), capability)
    if not may(PURE_ACTORS[M], capability):
        with pytest.raises(Forbidden, match=f"needs the role .*; you are {M}"):
            permissions.require(PURE_ACTORS[M], capability)


def test_actor_staff_must_be_read_before_it_is_judged() -> None:
    with pytest.raises(TypeError):
        may(Actor.staff(uuid.uuid4()), Capability.EXPORT)


# stage, escalating -> the roles that decide it
DECISIONS: dict[tuple[str, bool], set[str]] = {
    ("open", False): {M, A},
    ("claimed", False): {M, A},
    ("escalated", False): {C, A},
    ("open", True): {M, A},
    ("claimed", True): {M, A},
    ("escalated", True): set(),  # already escalated
    ("dismissed", False): set(),
    ("actioned", False): set(),
}


@pytest.mark.parametrize(("stage", "escalating"), list(DECISIONS))
def test_who_decides_an_item_at_each_stage(stage: str, escalating: bool) -> None:
    deciders = {
        name for name, who in PURE_ACTORS.items() if may_decide(who, stage, escalating=escalating)
    }
    assert deciders == DECISIONS[stage, escalating]


def test_a_claim_is_released_by_its_holder_or_an_admin() -> None:
    moderator, other, admin, officer = _staff(M), _staff(M), _staff(A), _staff(C)
    assert may_release_claim(moderator, moderator.id)
    assert not may_release_claim(moderator, other.id)
    assert may_release_claim(admin, other.id)
    assert not may_release_claim(officer, officer.id)
    assert not may_release_claim(Actor.console(), other.id)


@pytest.mark.parametrize("capability", list(Capability), ids=lambda c: c.name)
async def test_the_dashboard_guard_asks_the_predicate(capability: Capability) -> None:
    guard = requires(capability)
    for role in ROLES:
        member = _staff(role)

        @dataclass
        class Connection:
            state: dict[str, Any]

        connection: Any = Connection({"portal_staff": member})
        if may(member, capability):
            await guard(connection, Any)
        else:
            with pytest.raises(PermissionDeniedException) as refused:
                await guard(connection, Any)
            assert refused.value.detail == permissions.refusal(member, capability).detail


def test_no_template_repeats_a_role_rule() -> None:
    """Templates ask the predicates (``may_decide(staff, ...)``); ``staff.role`` is only shown."""
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for rule in ("staff.role in", "staff.role ==", "staff.role !="):
            assert rule not in text, f"{template.relative_to(TEMPLATES)} repeats a role rule"


# --- every service that changes or exports something, called by every kind of actor --------


@dataclass
class World:
    session: AsyncSession
    engine: AsyncEngine
    settings: Settings
    tmp_path: Path
    holder: StaffUser  # a moderator who claims items


Act = Callable[[World, Who], Awaitable[object]]
Prepare = Callable[[World], Awaitable[Act]]


@dataclass(frozen=True)
class Case:
    name: str
    prepare: Prepare  # a fresh target for one actor; returns the call on it
    allowed: Callable[[Who], bool]
    staff_only: bool = False  # the service takes a StaffUser (a decision names its staff member)
    refusals: tuple[type[PortalError], ...] = (Forbidden,)


async def _reported(world: World, status: str = "open") -> Message:
    employer, candidate = (
        await user(world.session, "employer"),
        await user(world.session, "candidate"),
    )
    message = await send(world.session, world.settings, employer, candidate, "reported")
    await report(world.session, message, candidate, "harassment")
    if status == "escalated":
        await moderation.escalate(world.session, message.id, actor=world.holder, note="legal")
    elif status == "claimed":
        await moderation.claim(world.session, message.id, actor=world.holder)
    return message


def decision(call: str, status: str, *, escalating: bool = False, **kwargs: Any) -> Case:
    async def prepare(world: World) -> Act:
        message = await _reported(world, status)

        async def act(world: World, who: Who) -> object:
            return await getattr(moderation, call)(world.session, message.id, actor=who, **kwargs)

        return act

    return Case(
        f"{call}-{status}",
        prepare,
        lambda who: may_decide(who, status, escalating=escalating),
        staff_only=True,
        # an item already decided for the role (escalated, for a moderator) says so
        refusals=(Forbidden, AlreadyDecided),
    )


def on_item(status: str, run: Callable[[World, Who, Message], Awaitable[object]]) -> Prepare:
    async def prepare(world: World) -> Act:
        message = await _reported(world, status)
        return lambda world, who: run(world, who, message)

    return prepare


async def _violation(world: World) -> RateLimitViolation:
    flooder = await user(world.session, "employer")
    now = utcnow()
    violation = RateLimitViolation(
        id=new_id(),
        user_id=flooder.id,
        first_attempt_at=now - timedelta(minutes=1),
        last_attempt_at=now,
        attempts=7,
        count_in_window=10,
        limit=10,
        window_seconds=86400,
    )
    async with write_transaction(world.session):
        world.session.add(violation)
    return violation


def simple(
    make: Callable[[World], Awaitable[Any]], call: Callable[[World, Who, Any], Awaitable[object]]
) -> Prepare:
    async def prepare(world: World) -> Act:
        target = await make(world)
        return lambda world, who: call(world, who, target)

    return prepare


async def _nothing(world: World) -> None:
    return None


async def _suspended(world: World) -> Any:
    target = await user(world.session, "candidate")
    admin = await staff(world.session, "admin")
    await suspensions.suspend_user(
        world.session, target.id, actor=admin, reason="r", days=1, policy="spam"
    )
    return target


async def _appeal(world: World) -> Any:
    """An open appeal against a removal another staff member decided."""
    decider = await staff(world.session, "admin")
    employer, candidate = (
        await user(world.session, "employer"),
        await user(world.session, "candidate"),
    )
    message = await send(world.session, world.settings, employer, candidate, "pay a fee")
    await report(world.session, message, candidate, "scam")
    await moderation.remove_message(
        world.session,
        message.id,
        actor=decider,
        reason="fee",
        grounds=moderation.Grounds(policy="scam"),
    )
    [notice] = await notices.decisions_about(world.session, employer)
    return await appeals.file_appeal(world.session, employer, notice.id, "I disagree")


async def _pair(world: World) -> tuple[uuid.UUID, uuid.UUID]:
    employer, candidate = (
        await user(world.session, "employer"),
        await user(world.session, "candidate"),
    )
    return employer.id, candidate.id


async def _thread(world: World) -> uuid.UUID:
    employer, candidate = (
        await user(world.session, "employer"),
        await user(world.session, "candidate"),
    )
    message = await send(world.session, world.settings, employer, candidate, "hello")
    return message.thread_id


async def _standing_hold(world: World) -> uuid.UUID:
    hold = await holds.place_hold(
        world.session,
        actor=Actor.system(),
        reason="charge",
        case_reference="C-1",
        thread_id=await _thread(world),
    )
    return hold.id


async def _colleague(world: World) -> StaffUser:
    return await staff(world.session, "moderator")


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def _export_report(world: World, who: Who, thread_id: uuid.UUID) -> object:
    export = await reports.stream_report(
        create_sessionmaker(world.engine), thread_id, "json", actor=who, settings=world.settings
    )
    return b"".join([chunk async for chunk in export.chunks])


async def _export_activity(world: World, who: Who, _: None) -> object:
    now = utcnow()
    export = await staff_activity.export_staff_activity(
        create_sessionmaker(world.engine),
        start=now - timedelta(days=1),
        end=now + timedelta(days=1),
        fmt="csv",
        actor=who,
    )
    return b"".join([chunk async for chunk in export.chunks])


async def _checkpoint(world: World, who: Who, _: None) -> object:
    signed = settings_with(world.settings, audit_signing_key=_pem(Ed25519PrivateKey.generate()))
    return await checkpoints.write_checkpoint(
        world.session,
        signed,
        actor=who,
        path_for=lambda at: world.tmp_path / f"checkpoint-{uuid.uuid4().hex}.json",
    )


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _may(capability: Capability) -> Callable[[Who], bool]:
    return lambda who: may(who, capability)


CASES: tuple[Case, ...] = (
    # moderation decisions: stage × role
    *(
        decision(call, status, **kwargs)
        for call, kwargs in (
            ("dismiss", {}),
            ("remove_message", {"reason": "abusive", "grounds": moderation.Grounds(policy="spam")}),
            ("warn_sender", {"note": "stop", "grounds": moderation.Grounds(policy="spam")}),
            (
                "suspend_sender",
                {"reason": "abusive", "days": 1, "grounds": moderation.Grounds(policy="spam")},
            ),
        )
        for status in ("open", "claimed", "escalated")
    ),
    decision("escalate", "open", escalating=True, note="legal"),
    decision("escalate", "escalated", escalating=True, note="legal"),
    Case(
        "claim",
        on_item("open", lambda w, who, m: moderation.claim(w.session, m.id, actor=who)),
        _may(Capability.CLAIM),
        staff_only=True,
    ),
    Case(
        "send_back",
        on_item(
            "escalated",
            lambda w, who, m: moderation.send_back(w.session, m.id, actor=who, note="look again"),
        ),
        _may(Capability.DECIDE_ESCALATED),
        staff_only=True,
    ),
    Case(
        "unclaim-another's",
        on_item("claimed", lambda w, who, m: moderation.unclaim(w.session, m.id, actor=who)),
        lambda who: may_release_claim(who, uuid.UUID(int=0)),  # not the actor's own claim
        staff_only=True,
    ),
    Case(
        "add_note",
        on_item(
            "open",
            lambda w, who, m: moderation.add_note(w.session, actor=who, body="n", message_id=m.id),
        ),
        _may(Capability.ADD_NOTE),
        staff_only=True,
    ),
    Case(
        "bulk_decide",
        on_item(
            "open",
            lambda w, who, m: moderation.bulk_decide(w.session, [m.id], "dismiss", actor=who),
        ),
        _may(Capability.DECIDE),
        staff_only=True,
    ),
    # users
    Case(
        "suspend_user",
        simple(
            lambda w: user(w.session, "candidate"),
            lambda w, who, u: suspensions.suspend_user(
                w.session, u.id, actor=who, reason="r", days=1, policy="spam"
            ),
        ),
        _may(Capability.MODERATE_USERS),
        staff_only=True,
    ),
    Case(
        "lift_suspension",
        simple(
            _suspended,
            lambda w, who, u: suspensions.lift_suspension(w.session, u.id, actor=who, reason="r"),
        ),
        _may(Capability.MODERATE_USERS),
        staff_only=True,
    ),
    Case(
        "mark_violation_reviewed",
        simple(
            _violation,
            lambda w, who, v: rate_limit.mark_violation_reviewed(w.session, v.id, actor=who),
        ),
        _may(Capability.MODERATE_USERS),
        staff_only=True,
    ),
    Case(
        "suspend_violator",
        simple(
            _violation,
            lambda w, who, v: rate_limit.suspend_violator(
                w.session, v.id, actor=who, reason="flood", days=1, policy="spam"
            ),
        ),
        _may(Capability.MODERATE_USERS),
        staff_only=True,
    ),
    Case(
        "decide_appeal",
        simple(
            _appeal,
            lambda w, who, a: appeals.decide_appeal(
                w.session, a.id, actor=who, outcome="upheld", reasoning="it stands"
            ),
        ),
        _may(Capability.DECIDE_APPEAL),
        staff_only=True,
    ),
    # staff accounts
    Case(
        "create_staff",
        simple(
            _nothing,
            lambda w, who, _: staff_service.create_staff(
                w.session,
                email=f"new-{_tag()}@staff.example",
                role="moderator",
                password="correct horse battery staple",
                actor=who,
            ),
        ),
        _may(Capability.MANAGE_STAFF),
    ),
    *(
        Case(
            f"{name}_staff",
            simple(_colleague, call),
            _may(Capability.MANAGE_STAFF),
            staff_only=True,
        )
        for name, call in (
            (
                "deactivate",
                lambda w, who, s: staff_service.deactivate_staff(w.session, s.id, actor=who),
            ),
            (
                "reactivate",
                lambda w, who, s: staff_service.reactivate_staff(w.session, s.id, actor=who),
            ),
            (
                "set_role_of",
                lambda w, who, s: staff_service.set_staff_role(
                    w.session, s.id, "compliance", actor=who
                ),
            ),
            (
                "reset_password_of",
                lambda w, who, s: staff_service.reset_staff_password(
                    w.session, s.id, "another long password", actor=who
                ),
            ),
        )
    ),
    # provisioning
    Case(
        "create_user",
        simple(
            _nothing,
            lambda w, who, _: create_user(
                w.session,
                email=f"u-{_tag()}@x.example",
                display_name="U",
                role="candidate",
                actor=who,
            ),
        ),
        _may(Capability.PROVISION),
    ),
    Case(
        "upsert_user",
        simple(
            _nothing,
            lambda w, who, _: upsert_user(
                w.session,
                uuid.uuid4(),
                email=f"u-{_tag()}@x.example",
                display_name="U",
                role="candidate",
                actor=who,
            ),
        ),
        _may(Capability.PROVISION),
    ),
    Case(
        "upsert_application",
        simple(
            _pair,
            lambda w, who, pair: upsert_application(
                w.session, employer_id=pair[0], candidate_id=pair[1], job_title="Welder", actor=who
            ),
        ),
        _may(Capability.PROVISION),
    ),
    # compliance
    Case(
        "place_hold",
        simple(
            _thread,
            lambda w, who, t: holds.place_hold(
                w.session, actor=who, reason="charge", case_reference="C-2", thread_id=t
            ),
        ),
        _may(Capability.PLACE_HOLD),
    ),
    Case(
        "lift_hold",
        simple(
            _standing_hold,
            lambda w, who, h: holds.lift_hold(w.session, h, actor=who, reason="closed"),
        ),
        _may(Capability.LIFT_HOLD),
    ),
    Case("stream_report", simple(_thread, _export_report), _may(Capability.EXPORT)),
    Case("export_staff_activity", simple(_nothing, _export_activity), _may(Capability.EXPORT)),
    Case(
        "record_panel_export",
        simple(
            _nothing,
            lambda w, who, _: panel_exports.record_panel_export(
                w.session, actor=who, panel="user", export_format="csv", rows=1
            ),
        ),
        _may(Capability.EXPORT),
        staff_only=True,
    ),
    Case(
        "purge_thread",
        simple(
            _thread,
            lambda w, who, t: retention.purge_thread(
                w.session, t, cutoff=utcnow() + timedelta(days=1), actor=who
            ),
        ),
        _may(Capability.PURGE),
    ),
    Case(
        "purge_expired",
        simple(_nothing, lambda w, who, _: retention.purge_expired(w.session, 365, actor=who)),
        _may(Capability.PURGE),
    ),
    Case("write_checkpoint", simple(_nothing, _checkpoint), _may(Capability.CHECKPOINT)),
)


async def _actors(session: AsyncSession) -> dict[str, tuple[Who, Who]]:
    """Each kind of actor: (as the service receives it, as the predicate judges it)."""
    members = {role: await staff(session, role) for role in ROLES}
    retired = await staff(session, "admin")
    async with write_transaction(session):
        await session.execute(
            update(StaffUser).where(StaffUser.id == retired.id).values(is_active=False)
        )
    retired.is_active = False
    actors: dict[str, tuple[Who, Who]] = {role: (m, m) for role, m in members.items()}
    actors["deactivated admin"] = (retired, retired)
    # the console's operator named with --as (or PORTAL_OPERATOR): read from the database
    actors.update({f"--as {role}": (Actor.staff(m.id), m) for role, m in members.items()})
    actors["console"] = (Actor.console(), Actor.console())  # no operator named (development)
    actors["system"] = (Actor.system(), Actor.system())
    actors["platform backend"] = (Actor.service(), Actor.service())
    return actors


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_every_service_refuses_exactly_what_the_predicate_refuses(
    case: Case,
    session: AsyncSession,
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
) -> None:
    settings = settings_with(settings, rate_limit_messages=1000)
    world = World(session, engine, settings, tmp_path, await staff(session, "moderator"))
    outcomes: dict[str, bool] = {}
    for name, (given, judged) in (await _actors(session)).items():
        if case.staff_only and not isinstance(given, StaffUser):
            continue
        act = await case.prepare(world)
        allowed = case.allowed(judged)
        before = await audit_count(session)
        try:
            await act(world, given)
        except case.refusals as refused:
            assert not allowed, f"{name} was refused: {refused.detail}"
            await _reload(session)  # the refusal rolled back, which expired what was loaded
            assert await audit_count(session) == before, f"{name}: refused, yet recorded"
            outcomes[name] = False
        else:
            assert allowed, f"{name} was let through"
            outcomes[name] = True
    assert not all(outcomes.values()), outcomes
    assert any(outcomes.values()) or case.name == "escalate-escalated", outcomes


async def _reload(session: AsyncSession) -> None:
    async with read_transaction(session):
        for loaded in list(session.identity_map.values()):
            await session.refresh(loaded)


async def test_the_console_operator_is_checked_by_the_predicate(session: AsyncSession) -> None:
    members = [await staff(session, role) for role in ROLES]
    for capability in Capability:
        for member in members:
            if may(member, capability):
                actor = await _operator(session, member.email, capability)
                assert actor == Actor.staff(member.id)
            else:
                with pytest.raises(Forbidden, match=f"--as: {member.email} is a {member.role}"):
                    await _operator(session, member.email, capability)
