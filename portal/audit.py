"""The one way to append to the audit log. Callers pass the session of the change they record,
so the event commits or rolls back with it.

Every event is appended to a hash chain (``portal.services.compliance.chain``): the chain of its
thread, or the global chain. The chain's head row is upserted first, which locks it until the
transaction ends, so concurrent appends to one chain queue up: positions stay contiguous and
the chain never forks (SQLite serialises all writers anyway).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, String, bindparam, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import CTE

from portal.models import AuditChainHead, AuditEvent, Message
from portal.models.base import insert_row, insert_values, new_id, utcnow
from portal.models.rows import AuditEventRow
from portal.prepared import Prepared
from portal.services.compliance.chain import (
    CONTENT_FIELDS,
    GENESIS_HASH,
    chain_key,
    content_digest,
    event_hash,
    json_safe,
    timestamp,
)

# Events about a message's content carry its digest, so a report's text is proven by the chain.
CONTENT_ACTIONS: Final = frozenset({"message.sent", "message.edited", "message.removed"})
_TIPS: Final = "portal.audit.chain_tips"


@dataclass(frozen=True)
class Actor:
    type: str
    id: uuid.UUID | None = None
    # Who was at the console when no staff account was named (development and tests only):
    # recorded as the event's ``details.operator``.
    operator: str | None = None

    @classmethod
    def user(cls, user_id: uuid.UUID) -> Actor:
        return cls("user", user_id)

    @classmethod
    def staff(cls, staff_id: uuid.UUID) -> Actor:
        return cls("staff", staff_id)

    @classmethod
    def service(cls) -> Actor:
        return cls("service")

    @classmethod
    def system(cls) -> Actor:
        return cls("system")

    @classmethod
    def console(cls) -> Actor:
        """The system, run by an unnamed operator at the console."""
        return cls("system", operator="console")


async def record_event(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID | None,
    thread_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Appends an event to its chain in the caller's transaction.

    For a content action on a message (``CONTENT_ACTIONS``) without a ``content_sha256`` in
    ``details``, the message's current content digest is added (from the session's identity
    map, so the send path pays no query for it).
    """
    details = json_safe(details or {})
    if actor.operator is not None:
        details.setdefault("operator", actor.operator)
    if (
        action in CONTENT_ACTIONS
        and subject_type == "message"
        and subject_id is not None
        and "content_sha256" not in details
    ):
        message = await session.get(Message, subject_id)
        if message is not None:
            details["content_sha256"] = message_digest(message)
    chain = chain_key(thread_id)
    position, prev_hash = await _advance_head(session, chain)
    event = AuditEvent(
        id=new_id(),
        occurred_at=occurred_at or utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        thread_id=thread_id,
        details=details,
        chain_key=chain,
        position=position,
        prev_hash=prev_hash,
    )
    event.hash = event_hash(prev_hash, event_fields(event))
    # Core statements built once, not the unit of work: the event is written here and now, and
    # the object returned is a record of it, not attached to the session.
    params = insert_values(event, prefix="event_")
    params.update(head_chain=chain, head_position=position, head_hash=event.hash)
    for statement in _append_event(session.get_bind().dialect.name):
        await statement.all(session, params)
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_TIPS, {})[chain] = (transaction, position, event.hash)
    return event


_heads = AuditChainHead.__table__


@functools.cache
def _append_event(dialect: str) -> tuple[Prepared, ...]:
    """Inserts the event (parameters ``event_*``) and moves its chain's head to it (``head_*``):
    one statement on PostgreSQL, the head's update a CTE of the insert; two on SQLite."""
    insert_event = insert_row(AuditEvent.__table__, prefix="event_")
    move_head = (
        update(_heads)
        .where(_heads.c.chain_key == bindparam("head_chain"))
        .values(position=bindparam("head_position"), hash=bindparam("head_hash"))
    )
    if dialect == "postgresql":
        return (Prepared(insert_event.add_cte(move_head.cte("moved_head"))),)
    return (Prepared(insert_event), Prepared(move_head))


@functools.cache
def _claim_head(dialect: str) -> Prepared:
    """Inserts a chain's head at position 0, or moves it one on (locking it): the position and
    the hash before it."""
    insert_into = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_into(_heads).values(
        chain_key=bindparam("chain"), position=0, hash=GENESIS_HASH
    )
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=[_heads.c.chain_key], set_={"position": _heads.c.position + 1}
        ).returning(_heads.c.position, _heads.c.hash)
    )


def claim_head_cte(when: ColumnElement[bool] | None = None) -> CTE:
    """The claim of the chain bound as ``claim_chain`` (what ``record_event`` would run first)
    as a CTE of a caller's own statement on PostgreSQL, so that a write takes the head in the
    statement that changes its rows instead of a round trip of its own: ``position`` and
    ``hash`` as :func:`_claim_head` returns them; only if ``when`` holds, if given. The caller
    then passes them to :func:`claimed_head`."""
    head = select(bindparam("claim_chain", type_=String), literal(0), literal(GENESIS_HASH))
    if when is not None:
        head = head.where(when)
    statement = postgresql.insert(_heads).from_select(["chain_key", "position", "hash"], head)
    return (
        statement.on_conflict_do_update(
            index_elements=[_heads.c.chain_key], set_={"position": _heads.c.position + 1}
        )
        .returning(_heads.c.position, _heads.c.hash)
        .cte("claimed_head")
    )


def claimed_head(session: AsyncSession, chain: str, position: int, prev_hash: str) -> None:
    """Tells ``record_event`` that this transaction holds ``chain``'s head, claimed for an event
    at ``position`` after one with ``prev_hash`` (:func:`claim_head_cte`): the next event of
    the chain is appended there without claiming it again."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_TIPS, {})[chain] = (transaction, position - 1, prev_hash)


async def _advance_head(session: AsyncSession, chain: str) -> tuple[int, str]:
    """Takes the next position of ``chain`` and returns it with the hash before it; the head row
    stays locked until the transaction ends.

    A transaction that appended to the chain already holds the lock and knows the head: it skips
    the upsert. The memo is keyed by the innermost transaction, so a savepoint rolled back never
    leaves a stale head behind.
    """
    transaction = session.get_nested_transaction() or session.get_transaction()
    tips: dict[str, tuple[Any, int, str]] = session.info.setdefault(_TIPS, {})
    memo = tips.get(chain)
    if memo is not None and memo[0] is transaction:
        return memo[1] + 1, memo[2]
    statement = _claim_head(session.get_bind().dialect.name)
    position, prev_hash = await statement.one(session, {"chain": chain})
    return position, prev_hash


def event_fields(event: AuditEventRow) -> dict[str, Any]:
    """The fields an event's hash covers, as they appear in an export."""
    return {
        "id": str(event.id),
        "chain": event.chain_key,
        "position": event.position,
        "occurred_at": timestamp(event.occurred_at),
        "actor_type": event.actor_type,
        "actor_id": _text(event.actor_id),
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": _text(event.subject_id),
        "thread_id": _text(event.thread_id),
        "details": event.details,
    }


def message_digest(message: Message) -> str:
    return content_digest({name: getattr(message, name) for name in CONTENT_FIELDS})


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def apply_changes(row: object, values: dict[str, Any]) -> dict[str, Any]:
    """Sets the attributes of ``row`` that differ from ``values``; returns just those, which is
    what an ``*.updated`` event records."""
    changes = {name: value for name, value in values.items() if getattr(row, name) != value}
    for name, value in changes.items():
        setattr(row, name, value)
    return changes
