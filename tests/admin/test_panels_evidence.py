"""Evidence stays evidence in the panels: the write methods of the panels over audit events,
flag reports, rate-limit violations, messages and legal holds refuse when called directly (not
only behind the routes), and "Lift the hold" is offered only on a hold that stands."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request

from admin.panels.base import STAFF_STATE, PanelView
from admin.sqladmin_app import PortalAdmin
from portal.audit import Actor
from portal.database import read_transaction
from portal.models import AuditEvent, FlagReport, LegalHold
from portal.models.base import utcnow
from portal.services.compliance.holds import lift_hold
from portal.settings import Settings
from tests.admin.panel_support import PanelWorld, make_panel_world
from tests.admin.support import sign_in, snapshot

# the panels whose rows are evidence, and a change a forger would try on each
EVIDENCE_WRITES: dict[str, dict[str, Any]] = {
    "audit-event": {"action": "staff.forged", "details": {}},
    "flag-report": {"note": "forged", "status": "dismissed"},
    "rate-limit-violation": {"attempts": 1},
    "message": {"body": "I withdraw my complaint", "is_removed": False},
    "legal-hold": {"reason": "forged", "lifted_at": utcnow()},
}


def _request(world: PanelWorld, identity: str, method: str = "POST") -> Request:
    request = Request(
        {
            "type": "http",
            "method": method,
            "path": f"/admin/{identity}/edit",
            "raw_path": f"/admin/{identity}/edit".encode(),
            "root_path": "",
            "scheme": "http",
            "server": ("127.0.0.1", 80),
            "headers": [(b"host", b"127.0.0.1")],
            "query_string": b"",
            "path_params": {"identity": identity},
            "state": {},
        }
    )
    setattr(request.state, STAFF_STATE, world.base.admin)  # the role that may do the most
    return request


async def _row_ids(session: AsyncSession, world: PanelWorld) -> dict[str, uuid.UUID]:
    async with read_transaction(session):
        report_id = await session.scalar(select(FlagReport.id).limit(1))
        event_id = await session.scalar(select(AuditEvent.id).limit(1))
    assert report_id is not None and event_id is not None
    return {
        "audit-event": event_id,
        "flag-report": report_id,
        "rate-limit-violation": world.violation_id,
        "message": world.base.message.id,
        "legal-hold": world.hold_id,
    }


async def test_evidence_panels_refuse_their_own_write_methods(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    ids = await _row_ids(session, world)
    panels = {view.identity: view for view in PortalAdmin(app).views if isinstance(view, PanelView)}
    assert set(EVIDENCE_WRITES) <= set(panels)
    assert {identity for identity, view in panels.items() if view.evidence} <= set(EVIDENCE_WRITES)
    before = await snapshot(session)
    for identity, data in EVIDENCE_WRITES.items():
        panel = panels[identity]
        assert not (panel.can_create or panel.can_edit or panel.can_delete), identity
        pk = str(ids[identity])
        calls = {
            "insert_model": lambda p=panel, i=identity, d=data: p.insert_model(
                _request(world, i), dict(d)
            ),
            "update_model": lambda p=panel, i=identity, d=data, k=pk: p.update_model(
                _request(world, i), k, dict(d)
            ),
            "delete_model": lambda p=panel, i=identity, k=pk: p.delete_model(
                _request(world, i, "DELETE"), k
            ),
        }
        for name, call in calls.items():
            with pytest.raises(HTTPException) as refused:
                await call()
            assert refused.value.status_code == 403, (identity, name)
        for action in ("create", "edit", "delete"):
            assert not panel.allows("admin", action), (identity, action)
    assert await snapshot(session) == before


async def test_lift_is_offered_only_on_a_standing_hold(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_panel_world(session, settings)
    lifted = await lift_hold(
        session, world.hold_id, actor=Actor.staff(world.base.compliance.id), reason="settled"
    )
    standing = await _standing_hold(session, world)
    form_of = "/admin/legal-hold/do/lift/{}"
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.base.compliance)
        shown = await client.get(f"/admin/legal-hold/details/{standing.id}")
        assert shown.status_code == 200
        assert form_of.format(standing.id) in shown.text
        gone = await client.get(f"/admin/legal-hold/details/{lifted.id}")
        assert gone.status_code == 200
        assert form_of.format(lifted.id) not in gone.text
        assert "Lift the hold" not in gone.text
    panel = next(v for v in PortalAdmin(app).views if getattr(v, "identity", "") == "legal-hold")
    assert isinstance(panel, PanelView)
    request = _request(world, "legal-hold", "GET")
    setattr(request.state, STAFF_STATE, world.base.compliance)
    assert [a.slug for a in panel.actions_for(request, standing)] == ["lift"]
    assert panel.actions_for(request, lifted) == []


async def _standing_hold(session: AsyncSession, world: PanelWorld) -> LegalHold:
    from portal.services.compliance.holds import place_hold

    return await place_hold(
        session,
        actor=Actor.staff(world.base.compliance.id),
        reason="another charge",
        case_reference="EEOC-9",
        user_id=world.base.sender.id,
    )
