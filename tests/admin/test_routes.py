"""Every dashboard route with every role and signed out: the role is checked first (403 for the
wrong one, sign-in for nobody), every POST needs the CSRF token (sign-in included), and no GET
changes anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.database import read_transaction
from portal.models import ModerationDecision, Policy, StaffUser
from portal.services import appeals, moderation
from portal.services.compliance.holds import place_hold
from portal.settings import Settings
from tests.admin.support import (
    ROLES,
    World,
    make_world,
    post_form,
    sign_in,
    snapshot,
)
from tests.portal.moderation_support import PASSWORD, report, send, staff

READ = frozenset(ROLES)
MODERATE = frozenset({"moderator", "admin"})
ADMIN = frozenset({"admin"})
COMPLIANCE = frozenset({"compliance", "admin"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    roles: frozenset[str]
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Targets:
    hold_id: UUID
    appeal_id: UUID
    policy_id: UUID


async def walk_targets(
    session: AsyncSession, settings: Settings
) -> tuple[World, StaffUser, Targets]:
    """The world the routes act on, a staff account to change, a legal hold to lift, an appeal
    to decide (against a decision none of the world's staff took) and a policy to edit."""
    world = await make_world(session, settings)
    target = await staff(session, "moderator", "Target")
    decider = await staff(session, "moderator", "Dora Decider")
    removed = await send(session, settings, world.sender, world.recipient, "removed one")
    await report(session, removed, world.recipient, "spam")
    await moderation.remove_message(
        session, removed.id, actor=decider, reason="spam", grounds=moderation.Grounds("spam")
    )
    async with read_transaction(session):
        decision_id = await session.scalar(
            select(ModerationDecision.id).where(ModerationDecision.message_id == removed.id)
        )
        policy_id = await session.scalar(select(Policy.id).where(Policy.key == "harassment"))
    assert decision_id is not None and policy_id is not None
    appeal = await appeals.file_appeal(session, world.sender, decision_id, "not spam")
    hold = await place_hold(
        session,
        actor=Actor.system(),
        reason="charge",
        case_reference="C-1",
        user_id=world.sender.id,
    )
    return world, target, Targets(hold.id, appeal.id, policy_id)


POLICY = {
    "title": "Harassment",
    "ground": "terms_of_service",
    "ground_reference": "4.2",
    "category": "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "explanation": "Insults.",
    "active": "on",
}


def routes(world: World, target: StaffUser, targets: Targets) -> list[Route]:
    m, u, s = world.message.id, world.sender.id, target.id
    hold_id, a, p = targets.hold_id, targets.appeal_id, targets.policy_id
    t = world.message.thread_id
    hold = {"reason": "charge filed", "case_reference": "EEOC-1", "thread_id": str(t)}
    return [
        Route("GET", "/mod", READ),
        Route("GET", "/mod?status=decided&order=age&reason=harassment&age=7", READ),
        Route("GET", "/mod/counts", READ),
        Route("GET", f"/mod/next?after={m}", READ),
        Route("GET", "/mod/bulk", READ),
        Route("GET", f"/mod/reports/{m}", READ),
        Route("GET", f"/mod/users/{u}", READ),
        Route("GET", "/mod/overview", READ),
        Route("GET", "/mod/staff", ADMIN),
        Route("POST", f"/mod/reports/{m}/notes", READ, {"body": "looked at it"}),
        Route("POST", f"/mod/reports/{m}/claim", MODERATE),
        Route("POST", f"/mod/reports/{m}/unclaim", MODERATE),
        Route("POST", f"/mod/reports/{m}/warn", READ, {"reason": "be civil", "policy": "spam"}),
        Route("POST", f"/mod/reports/{m}/escalate", MODERATE, {"note": "legal"}),
        Route("POST", f"/mod/reports/{m}/send_back", COMPLIANCE, {"note": "look again"}),
        Route("POST", f"/mod/reports/{m}/undo", READ, {"decision_id": str(m)}),
        # every role may decide (compliance only escalated items, which the service checks)
        Route("POST", f"/mod/reports/{m}/dismiss", READ),
        Route("POST", f"/mod/reports/{m}/remove", READ, {"reason": "x", "policy": "spam"}),
        Route(
            "POST",
            f"/mod/reports/{m}/suspend",
            READ,
            {"reason": "x", "days": "1", "policy": "spam"},
        ),
        Route("POST", "/mod/bulk", READ, {"action": "dismiss", "message_id": str(m)}),
        Route("POST", "/mod/bulk/undo", READ, {"decision_id": str(m)}),
        Route(
            "POST",
            f"/mod/users/{u}/suspend",
            MODERATE,
            {"reason": "spam", "days": "3", "policy": "spam"},
        ),
        Route("POST", f"/mod/users/{u}/lift", MODERATE, {"reason": "appeal"}),
        Route("POST", f"/mod/users/{u}/notes", READ, {"body": "watch"}),
        Route("GET", "/mod/appeals", READ),
        Route("GET", "/mod/appeals?status=upheld", READ),
        Route("GET", f"/mod/appeals/{a}", READ),
        Route(
            "POST", f"/mod/appeals/{a}/decide", MODERATE, {"outcome": "upheld", "reasoning": "ok"}
        ),
        Route("GET", "/mod/policies", ADMIN),
        Route("GET", f"/mod/policies/{p}", ADMIN),
        Route("POST", f"/mod/policies/{p}", ADMIN, POLICY),
        Route(
            "POST",
            "/mod/policies",
            ADMIN,
            {**POLICY, "key": "new_rule", "title": "New rule"},
        ),
        Route("POST", "/mod/staff", ADMIN, {"email": "new@staff.example.com", "role": "moderator"}),
        Route("POST", f"/mod/staff/{s}/role", ADMIN, {"role": "compliance"}),
        Route("POST", f"/mod/staff/{s}/password", ADMIN, {"password": "another long password"}),
        Route("POST", f"/mod/staff/{s}/deactivate", ADMIN),
        Route("POST", f"/mod/staff/{s}/reactivate", ADMIN),
        Route("GET", "/mod/compliance", COMPLIANCE),
        Route("GET", f"/mod/compliance?thread={t}", COMPLIANCE),
        Route("GET", f"/mod/compliance/threads/{t}", COMPLIANCE),
        Route("GET", "/mod/compliance/holds", COMPLIANCE),
        # downloads are POSTs: each export is an audit event, and no GET writes
        Route("POST", f"/mod/compliance/threads/{t}/report", COMPLIANCE, {"format": "json"}),
        Route("POST", f"/mod/compliance/threads/{t}/report", COMPLIANCE, {"format": "pdf"}),
        Route(
            "POST",
            "/mod/compliance/staff-activity",
            COMPLIANCE,
            {"from": "2026-01-01", "to": "2026-12-31", "format": "csv"},
        ),
        Route("POST", "/mod/compliance/holds", COMPLIANCE, hold),
        Route("POST", f"/mod/compliance/holds/{hold_id}/lift", COMPLIANCE, {"reason": "settled"}),
    ]


async def _request(client: AsyncTestClient[Litestar], route: Route) -> Any:
    if route.method == "GET":
        return await client.get(route.path, follow_redirects=False)
    return await post_form(client, route.path, route.data)


async def test_every_route_checks_the_role_first(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world, target, targets = await walk_targets(session, settings)
    problems: list[str] = []
    async with AsyncTestClient(app=app) as client:
        for who in (None, *ROLES):
            if who is None:
                client.cookies.clear()
            else:
                await sign_in(client, world.account(who))
            for route in routes(world, target, targets):
                before = await snapshot(session)
                response = await _request(client, route)
                label = f"{who or 'signed out'} {route.method} {route.path}"
                allowed = who in route.roles
                if who is None:
                    location = response.headers.get("location", "")
                    if response.status_code != 303 or not location.startswith("/mod/login"):
                        problems.append(f"{label}: {response.status_code} {location}")
                    elif route.method == "GET" and route.path != "/mod" and "next=" not in location:
                        problems.append(f"{label}: the sign-in page would not lead back")
                elif not allowed and response.status_code != 403:
                    problems.append(f"{label}: {response.status_code}, expected 403")
                elif allowed and response.status_code in (401, 403):
                    problems.append(f"{label}: {response.status_code}, expected to be let in")
                if (not allowed or route.method == "GET") and await snapshot(session) != before:
                    problems.append(f"{label}: changed the database")
    assert problems == []


async def test_signed_out_visit_returns_to_where_it_was_headed(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        path = f"/mod/reports/{world.message.id}"
        response = await client.get(path, follow_redirects=False)
        assert response.headers["location"] == f"/mod/login?next={path}"
        page = await client.get(response.headers["location"])
        assert f'name="next" value="{path}"' in page.text
        signed = await post_form(
            client,
            "/mod/login",
            {"email": world.moderator.email, "password": PASSWORD, "next": path},
        )
        assert (signed.status_code, signed.headers["location"]) == (303, path)
        assert (await client.get(path)).status_code == 200


async def test_every_post_needs_the_csrf_token(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world, target, targets = await walk_targets(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.admin)
        posts = [r for r in routes(world, target, targets) if r.method == "POST"]
        posts.append(Route("POST", "/mod/logout", READ))
        posts.append(
            Route("POST", "/mod/login", READ, {"email": world.admin.email, "password": PASSWORD})
        )
        for route in posts:
            before = await snapshot(session)
            missing = await client.post(route.path, data=route.data, follow_redirects=False)
            forged = await client.post(
                route.path,
                data={**route.data, "_csrf_token": "f" * 128},
                headers={"x-csrftoken": "f" * 128},
                follow_redirects=False,
            )
            assert (missing.status_code, forged.status_code) == (403, 403), route.path
            assert await snapshot(session) == before, route.path
        # still signed in: the refused sign-out did nothing
        assert (await client.get("/mod", follow_redirects=False)).status_code == 200
