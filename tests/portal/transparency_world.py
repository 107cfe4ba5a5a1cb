"""A world whose DSA transparency figures are known by hand, for the first half of 2026.

Rows are written with the ORM at chosen times (the services that make decisions and appeals
are not what is tested here): 7 reports of 3 reasons in the period (2 of them notices of
illegal content, 1 undecided, on the last second of the period); 6 decisions (a removal, a
7-day suspension on a legal ground that an appeal overturned, a warning, an indefinite
suspension without a message, a dismissal, and the reversal of the suspension); 2 appeals (one
overturned, one upheld); and rows just outside the period on both sides that must not count.
Every name, email, message, note and explanation is distinctive, so that a test can show none
of it reaches a statement of reasons.

Times (UTC), report -> decision:
    r1 02-01 12:00, r2 13:00, r4 13:30  -> d1 removed   02-01 14:00  (2 h, 1 h, 30 min)
    r3 03-10 05:00                      -> d2 suspended 03-10 09:00  (4 h)
    r5 05-20 09:00, r6 05-19 12:00      -> d5 dismissed 05-20 12:00  (3 h, 24 h)
    median of 0.5, 1, 2, 3, 4, 24 hours = 2.5 h = 9000 s
Appeals: a1 03-11 09:00 -> 03-12 09:00 (24 h), a2 05-21 12:00 -> 05-23 12:00 (48 h): 36 h.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction, write_transaction
from portal.models import Appeal, FlagReport, Message, ModerationDecision, Policy, StaffUser, User
from portal.models.base import new_id
from portal.models.decisions import DECISION_KINDS, DSA_CATEGORIES
from portal.services.transparency import Period
from portal.settings import Settings
from tests.conftest import settings_with
from tests.portal.moderation_support import send, staff, user

PERIOD = Period(date(2026, 1, 1), date(2026, 6, 30))
LEGAL_GROUND = "Criminal Code, section 241: threats"


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    year = 2025 if month == 12 else 2026
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class TransparencyWorld:
    moderator: StaffUser
    officer: StaffUser
    people: list[User]
    messages: dict[str, Message]
    decisions: dict[str, ModerationDecision]
    # Everything personal in the world: no statement of reasons may contain any of it.
    personal: list[str] = field(default_factory=list)


def _zeros(keys: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(keys, 0)


def expected_figures() -> dict[str, Any]:
    """The report's sections for PERIOD, computed by hand from the module's docstring."""
    report_categories = _zeros(DSA_CATEGORIES)
    report_categories.update(
        STATEMENT_CATEGORY_SCAMS_AND_FRAUD=3,
        STATEMENT_CATEGORY_CYBER_VIOLENCE=1,
        STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE=3,
    )
    restriction_categories = _zeros(DSA_CATEGORIES)
    restriction_categories.update(
        STATEMENT_CATEGORY_SCAMS_AND_FRAUD=1,
        STATEMENT_CATEGORY_CYBER_VIOLENCE=1,
        STATEMENT_CATEGORY_OTHER_VIOLATION_TC=2,
    )
    by_kind = _zeros(DECISION_KINDS)
    by_kind.update(removed=1, warned=1, suspended=2, dismissed=1, suspension_lifted=1)
    return {
        "reports": {
            "received": 7,
            "notices_of_illegal_content": 2,
            "closed_by_a_decision": 6,
            "by_reason": {
                "spam": 2,
                "harassment": 2,
                "inappropriate_content": 0,
                "discrimination": 0,
                "scam": 3,
                "other": 0,
            },
            "by_category": report_categories,
        },
        "decisions": {
            "total": 6,
            "by_kind": by_kind,
            "restrictions": 4,
            "restrictions_by_ground": {"terms_of_service": 3, "illegal_content": 1},
            "restrictions_by_ground_and_kind": {
                "terms_of_service": {"removed": 1, "warned": 1, "suspended": 1},
                "illegal_content": {"removed": 0, "warned": 0, "suspended": 1},
            },
            "restrictions_by_source": {"notice": 2, "own_initiative": 2},
            "restrictions_by_category": restriction_categories,
            "automated": 0,
            "reports_closed": 6,
            "median_seconds_from_report": 9000,
        },
        "appeals": {
            "received": 2,
            "by_basis": {"sanctioned_user": 1, "reporter": 1},
            "by_outcome": {"open": 0, "upheld": 1, "overturned": 1, "partially_overturned": 0},
            "decided": 2,
            "median_seconds_to_decide": 129600,
            "decisions_reversed": 1,
            "decisions_reversed_by_outcome": {"overturned": 1, "partially_overturned": 0},
        },
        "suspensions": {
            "total": 2,
            "indefinite": 1,
            "by_days": {"1": 0, "3": 0, "7": 1, "30": 0},
        },
    }


async def _policies(session: AsyncSession) -> dict[str, Policy]:
    async with write_transaction(session):
        illegal = Policy(
            id=new_id(),
            key="illegal_threats",
            title="Threats of violence",
            ground="illegal_content",
            ground_reference=LEGAL_GROUND,
            category="STATEMENT_CATEGORY_CYBER_VIOLENCE",
            explanation="The message threatened the person it was sent to.",
        )
        session.add(illegal)
    async with read_transaction(session):
        rows = await session.scalars(select(Policy))
        return {policy.key: policy for policy in rows}


def _decision(
    kind: str,
    when: datetime,
    *,
    person: User,
    moderator: StaffUser,
    source: str,
    policy: Policy | None = None,
    message: Message | None = None,
    days: int | None = None,
    indefinite: bool = False,
    secret: str,
    **extra: Any,
) -> ModerationDecision:
    until = when + timedelta(days=days) if days is not None else None
    return ModerationDecision(
        id=new_id(),
        kind=kind,
        user_id=person.id,
        message_id=message.id if message else None,
        thread_id=message.thread_id if message else None,
        source=source,
        policy_id=policy.id if policy else None,
        policy_version=policy.version if policy else None,
        policy_key=policy.key if policy else None,
        policy_title=policy.title if policy else None,
        ground=policy.ground if policy else None,
        ground_reference=policy.ground_reference if policy else None,
        category=policy.category if policy else None,
        explanation=f"{person.display_name}, your message broke our rules ({secret}-explained)",
        public_note=f"Public note about {person.display_name} ({secret}-public)",
        internal_note=f"Internal: {person.email} looked dodgy ({secret}-internal)",
        restricted_until=None if indefinite else until,
        days=days,
        automated=False,
        statement=f"Dear {person.display_name}: statement of reasons ({secret}-statement)",
        decided_by_id=moderator.id,
        appealable_until=when + timedelta(days=183) if kind != "suspension_lifted" else None,
        created_at=when,
        **extra,
    )


def _report(
    message: Message,
    reporter: User,
    reason: str,
    when: datetime,
    decision: ModerationDecision | None,
    *,
    legal_ground: str | None = None,
) -> FlagReport:
    status = "open"
    if decision is not None:
        status = "dismissed" if decision.kind == "dismissed" else "actioned"
    return FlagReport(
        id=new_id(),
        message_id=message.id,
        reporter_id=reporter.id,
        reason=reason,
        note=f"{reporter.display_name} says: see {reporter.email}",
        status=status,
        decided_by_id=decision.decided_by_id if decision else None,
        decided_at=decision.created_at if decision else None,
        decision=decision.kind if decision else None,
        decision_id=decision.id if decision else None,
        legal_ground=legal_ground,
        good_faith=True if legal_ground else None,
        created_at=when,
        updated_at=decision.created_at if decision else when,
    )


async def build_transparency_world(session: AsyncSession, settings: Settings) -> TransparencyWorld:
    settings = settings_with(settings, rate_limit_messages=1000)
    moderator = await staff(session, "moderator", "Mortimer Moderatorsson")
    officer = await staff(session, "compliance", "Octavia Officerdottir")
    e1 = await user(session, "employer", "Zebulon Quartermain")
    e2 = await user(session, "employer", "Philippa Grimsbottom")
    e3 = await user(session, "employer", "Barnaby Fluellen")
    c1 = await user(session, "candidate", "Cressida Vantongeren")
    c2 = await user(session, "candidate", "Ignatius Pemberton")
    c3 = await user(session, "candidate", "Wilhelmina Oyelaran")
    people = [e1, e2, e3, c1, c2, c3]
    policies = await _policies(session)

    plan = [  # in the order they were sent: a thread's messages only move forward
        ("m0", e1, c1, at(12, 31, 20), "Quick question before new year zq-body-m0"),
        ("m1", e1, c1, at(2, 1, 11), "Pay 200 EUR for your training kit to IBAN zq-body-m1"),
        ("m2", e2, c2, at(3, 10, 4), "I know where you live, Ignatius zq-body-m2"),
        ("m3", e1, c2, at(3, 31, 10), "Buy cheap watches at zq-body-m3"),
        ("m5", e2, c3, at(5, 20, 8), "Can you start on Monday? zq-body-m5"),
        ("m6", e1, c2, at(6, 30, 20), "Reply or else zq-body-m6"),
        ("m8", e3, c1, at(6, 30, 23), "Text me on my own number zq-body-m8"),
    ]
    messages = {
        name: await send(session, settings, sender, recipient, body, now=when)
        for name, sender, recipient, when, body in plan
    }
    m = messages
    common = {"moderator": moderator}
    d = {
        "d0": _decision("removed", at(12, 31, 23, 59, 59), person=e1, source="notice",
                        policy=policies["scam"], message=m["m0"], secret="zq-d0", **common),
        "d1": _decision("removed", at(2, 1, 14), person=e1, source="notice",
                        policy=policies["scam"], message=m["m1"], secret="zq-d1", **common),
        "d2": _decision("suspended", at(3, 10, 9), person=e2, source="notice",
                        policy=policies["illegal_threats"], message=m["m2"], days=7,
                        secret="zq-d2", overturned="overturned",
                        overturned_at=at(3, 12, 9), **common),
        "d3": _decision("warned", at(4, 1, 8), person=e1, source="own_initiative",
                        policy=policies["spam"], message=m["m3"], secret="zq-d3", **common),
        "d4": _decision("suspended", at(5, 5, 16), person=e3, source="own_initiative",
                        policy=policies["off_platform"], indefinite=True, secret="zq-d4",
                        **common),
        "d5": _decision("dismissed", at(5, 20, 12), person=e2, source="notice",
                        message=m["m5"], secret="zq-d5", **common),
        "d7": _decision("suspended", at(7, 1), person=e3, source="notice",
                        policy=policies["harassment"], message=m["m8"], days=30,
                        secret="zq-d7", **common),
    }  # fmt: skip
    d["d6"] = _decision(
        "suspension_lifted",
        at(3, 12, 9),
        person=e2,
        source="notice",
        message=m["m2"],
        secret="zq-d6",
        reverses_id=d["d2"].id,
        **common,
    )
    reports = [
        _report(m["m0"], c1, "scam", at(12, 31, 22), d["d0"]),  # outside: before the period
        _report(m["m1"], c1, "scam", at(2, 1, 12), d["d1"], legal_ground="Fraud Act, s. 2"),
        _report(m["m1"], c2, "scam", at(2, 1, 13), d["d1"]),
        _report(m["m1"], c3, "scam", at(2, 1, 13, 30), d["d1"]),
        _report(m["m2"], c2, "harassment", at(3, 10, 5), d["d2"], legal_ground=LEGAL_GROUND),
        _report(m["m5"], c3, "spam", at(5, 20, 9), d["d5"]),
        _report(m["m5"], c1, "spam", at(5, 19, 12), d["d5"]),
        _report(m["m6"], c2, "harassment", at(6, 30, 23, 59, 59), None),  # the last second
        _report(m["m8"], c1, "harassment", at(7, 1), d["d7"]),  # outside: after the period
    ]
    appeals = [
        Appeal(id=new_id(), decision_id=d["d2"].id, appellant_id=e2.id, basis="sanctioned_user",
               text=f"{e2.display_name} appeals: it was a joke zq-appeal-1", status="overturned",
               decided_by_id=moderator.id, decided_at=at(3, 12, 9),
               reasoning="Overturned zq-reasoning-1", outcome_decision_id=d["d6"].id,
               created_at=at(3, 11, 9)),
        Appeal(id=new_id(), decision_id=d["d5"].id, appellant_id=c3.id, basis="reporter",
               text=f"{c3.display_name} appeals: it was spam zq-appeal-2", status="upheld",
               decided_by_id=moderator.id, decided_at=at(5, 23, 12),
               reasoning="Upheld zq-reasoning-2", created_at=at(5, 21, 12)),
        Appeal(id=new_id(), decision_id=d["d7"].id, appellant_id=e3.id, basis="sanctioned_user",
               text="Outside the period zq-appeal-0", created_at=at(7, 2, 10)),
    ]  # fmt: skip
    async with write_transaction(session):
        session.add_all(d.values())
        await session.flush()
        session.add_all(reports)
        session.add_all(appeals)
    personal = [
        *(p.display_name for p in people),
        *(p.email for p in people),
        *(str(p.id) for p in people),
        *(s.display_name for s in (moderator, officer)),
        *(s.email for s in (moderator, officer)),
        *(body for *_, body in plan),
        *(str(message.id) for message in messages.values()),
        *(str(message.thread_id) for message in messages.values()),
        *(r.note or "" for r in reports),
        "Fraud Act",
        "zq-",  # every explanation, note, statement, appeal and body carries it
    ]
    return TransparencyWorld(moderator, officer, people, messages, d, personal)
