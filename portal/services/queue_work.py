"""How a team shares the queue: saved views (a staff member's named filter sets) and assignment
of items to a moderator.

An assigned item is a claimed one, claimed on the assignee's behalf: it shows under their
"claimed by me", and anyone may still decide it (a claim is not a lock). Who may assign:
- an administrator: any item to any moderator or administrator;
- a moderator: an item nobody has claimed, or one they hold, to themselves or to a colleague
  (handing over); taking an item someone else holds is an administrator's call.
Every assignment is audited (``moderation.assigned``), and so is saving or deleting a view.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, record_event
from portal.database import lock_row, read_transaction, write_transaction
from portal.errors import Forbidden, InvalidInput, NotFound
from portal.models import FlagReport, Message, QueueView, StaffUser
from portal.models.base import new_id
from portal.models.moderation import FLAG_REASONS
from portal.services import validation
from portal.services.moderation_types import OPEN, QUEUE_ORDERS, QUEUE_STATUSES, now_or_utcnow
from portal.services.staff import staff_name

MAX_VIEWS: Final = 30
MAX_VIEW_NAME: Final = 80
QUEUE_GROUPS: Final = ("", "sender")
AGE_FILTERS: Final = (1, 7, 30)
# The filters a view may hold, in the order its query string lists them
VIEW_FILTERS: Final = ("status", "reason", "age", "order", "group")


@dataclass(frozen=True)
class SavedView:
    id: uuid.UUID
    name: str
    query: str  # the queue's query string, without the "?"


@dataclass(frozen=True)
class Assignee:
    id: uuid.UUID
    name: str
    role: str


def view_query(filters: Mapping[str, object]) -> str:
    """The canonical query string of a filter set, each filter checked; unset ones left out."""
    values: dict[str, str] = {}
    for name in VIEW_FILTERS:
        value = filters.get(name)
        if value is None or value == "":
            continue
        values[name] = str(value)
    if "status" in values:
        validation.one_of("status", values["status"], QUEUE_STATUSES)
    if "reason" in values:
        validation.one_of("reason", values["reason"], FLAG_REASONS)
    if "age" in values:
        validation.one_of("age", values["age"], [str(a) for a in AGE_FILTERS])
    if "order" in values:
        validation.one_of("order", values["order"], QUEUE_ORDERS)
    if "group" in values:
        validation.one_of("group", values["group"], QUEUE_GROUPS)
    unknown = set(filters) - set(VIEW_FILTERS)
    if unknown:
        raise InvalidInput("filters", f"unknown filter {sorted(unknown)[0]!r}")
    return urlencode(values)


def view_filters(query: str) -> dict[str, str]:
    return dict(parse_qsl(query))


async def list_views(session: AsyncSession, *, viewer: StaffUser) -> list[SavedView]:
    """The viewer's saved views, by name."""
    query = (
        select(QueueView.id, QueueView.name, QueueView.query)
        .where(QueueView.staff_id == viewer.id)
        .order_by(QueueView.name)
    )
    async with read_transaction(session):
        rows = (await session.execute(query)).all()
    return [SavedView(row.id, row.name, row.query) for row in rows]


async def save_view(
    session: AsyncSession,
    *,
    actor: StaffUser,
    name: str,
    filters: Mapping[str, object],
    now: datetime | None = None,
) -> SavedView:
    """Saves ``filters`` as the actor's view ``name``; a view of the same name is replaced."""
    permissions.require(actor, permissions.Capability.READ_QUEUE)
    name = validation.text("name", name, max_length=MAX_VIEW_NAME)
    query = view_query(filters)
    async with write_transaction(session):
        existing = await session.scalar(
            select(QueueView)
            .where(QueueView.staff_id == actor.id, QueueView.name == name)
            .with_for_update()
        )
        if existing is None:
            count = await session.scalar(
                select(func.count()).select_from(QueueView).where(QueueView.staff_id == actor.id)
            )
            if (count or 0) >= MAX_VIEWS:
                raise InvalidInput("name", f"at most {MAX_VIEWS} saved views; delete one first")
            existing = QueueView(
                id=new_id(),
                staff_id=actor.id,
                name=name,
                query=query,
                created_at=now_or_utcnow(now),
            )
            session.add(existing)
        else:
            existing.query = query
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="queue.view_saved",
            subject_type="staff",
            subject_id=actor.id,
            details={"view_id": str(existing.id), "name": name, "query": query},
        )
    return SavedView(existing.id, name, query)


async def delete_view(session: AsyncSession, view_id: uuid.UUID, *, actor: StaffUser) -> None:
    """Deletes one of the actor's own views (NotFound for anyone else's)."""
    permissions.require(actor, permissions.Capability.READ_QUEUE)
    async with write_transaction(session):
        view = await session.scalar(
            select(QueueView).where(QueueView.id == view_id, QueueView.staff_id == actor.id)
        )
        if view is None:
            raise NotFound(f"saved view {view_id} does not exist")
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="queue.view_deleted",
            subject_type="staff",
            subject_id=actor.id,
            details={"view_id": str(view.id), "name": view.name, "query": view.query},
        )
        await session.delete(view)


async def assignees(session: AsyncSession) -> list[Assignee]:
    """Who items can be assigned to: active staff who decide open items, by name."""
    roles = sorted(permissions.GRANTS[permissions.Capability.DECIDE_OPEN])
    query = (
        select(StaffUser.id, StaffUser.display_name, StaffUser.email, StaffUser.role)
        .where(StaffUser.is_active.is_(True), StaffUser.role.in_(roles))
        .order_by(func.coalesce(StaffUser.display_name, StaffUser.email), StaffUser.id)
    )
    async with read_transaction(session):
        rows = (await session.execute(query)).all()
    return [Assignee(row.id, row.display_name or row.email, row.role) for row in rows]


async def assign(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    assignee_id: uuid.UUID,
    actor: StaffUser,
    now: datetime | None = None,
) -> None:
    """Assigns the item (its open and claimed reports) to ``assignee_id``; see the module's
    rules. Assigning it to whoever holds it already changes nothing."""
    permissions.require(actor, permissions.Capability.CLAIM)
    async with write_transaction(session):
        assignee = await session.get(StaffUser, assignee_id)
        if assignee is None or not assignee.is_active:
            raise NotFound(f"staff member {assignee_id} does not exist or is inactive")
        if not permissions.may_decide(assignee, "open"):
            raise InvalidInput("assignee_id", f"{staff_name(assignee)} does not decide open items")
        message = await lock_row(session, Message, message_id, what="message", key_share=True)
        reports = list(
            (
                await session.scalars(
                    select(FlagReport)
                    .where(FlagReport.message_id == message_id, FlagReport.status.in_(OPEN))
                    .order_by(FlagReport.created_at, FlagReport.id)
                    .execution_options(populate_existing=True)
                )
            ).all()
        )
        if not reports:
            raise NotFound(f"message {message_id} has no open reports")
        holders = {r.assigned_to_id for r in reports if r.status == "claimed"}
        if holders == {assignee.id} and all(r.status == "claimed" for r in reports):
            return
        others = holders - {actor.id}
        if others and not permissions.may(actor, permissions.Capability.RELEASE_ANY_CLAIM):
            holder = await session.get(StaffUser, next(iter(others)))
            raise Forbidden(
                f"claimed by {staff_name(holder) or 'someone else'}: only an administrator "
                "reassigns someone else's item"
            )
        when = now_or_utcnow(now)
        for report in reports:
            report.status = "claimed"
            report.assigned_to_id = assignee.id
            report.updated_at = when
        await record_event(
            session,
            actor=Actor.staff(actor.id),
            action="moderation.assigned",
            subject_type="message",
            subject_id=message_id,
            thread_id=message.thread_id,
            details={
                "assignee_id": str(assignee.id),
                "assignee": staff_name(assignee),
                "previously": sorted(str(h) for h in holders if h is not None),
                "report_ids": [str(r.id) for r in reports],
            },
        )
