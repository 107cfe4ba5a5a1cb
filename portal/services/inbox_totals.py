"""Each participant's inbox totals, kept in one row (``inbox_totals``) by the writes that change
them, so that the list page and the unread count read one row instead of aggregating the user's
whole history.

A thread adds to one participant's totals its *share*: nothing while it is out of their view
(deleted by them with nothing new since, or deleted for both), else one inbox or archived thread,
one unread thread there if their counter is above zero, and their counter's unread messages. A
write that changes a thread's visibility, archive flag or unread counter for a participant adds
the difference of the share after and before to their row, in its own transaction, after the
thread's row is locked and written: locks are taken thread first, then totals rows in user-id
order (one statement), so two writes never wait for each other the other way round.

Which writes those are: a send (the recipient's counter, the thread back in their inbox, and a
thread brought back into either participant's view), mark read, archive and unarchive, and
delete. A moderator's removal or restore of a message and the retention purge change no
counter, flag or visibility (a removed message is still unread until read; a purge empties
bodies), so they leave the totals alone.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any, Final, NamedTuple

from sqlalchemy import Integer, bindparam, case, func, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import CTE, Select

from portal.models import InboxTotals, MessageThread
from portal.prepared import Prepared

FIGURES: Final = (
    "inbox_threads",
    "archived_threads",
    "unread_inbox_threads",
    "unread_archived_threads",
    "unread_messages",
)

_totals = InboxTotals.__table__
_threads = MessageThread.__table__


class Share(NamedTuple):
    """What one thread adds to one participant's totals (or, as a difference, changes)."""

    inbox_threads: int = 0
    archived_threads: int = 0
    unread_inbox_threads: int = 0
    unread_archived_threads: int = 0
    unread_messages: int = 0

    def minus(self, other: Share) -> Share:
        return Share(*(mine - theirs for mine, theirs in zip(self, other, strict=True)))


NOTHING: Final = Share()


def share(*, visible: bool, archived: bool, unread: int) -> Share:
    """The share of a thread with this participant's view, archive flag and unread counter."""
    if not visible:
        return NOTHING
    has_unread = 1 if unread > 0 else 0
    if archived:
        return Share(0, 1, 0, has_unread, unread)
    return Share(1, 0, has_unread, 0, unread)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _insert(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(_totals)


def _add_on_conflict(statement: Any) -> Insert:
    excluded = statement.excluded
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[_totals.c.user_id],
        set_={name: _totals.c[name] + excluded[name] for name in FIGURES},
    )


@functools.cache
def upsert(dialect: str, rows: int) -> Insert:
    """Adds differences to ``rows`` users' totals (a row made if missing), bound as
    ``totals{i}_user_id`` and ``totals{i}_{figure}``; rows in user-id order, so that two writes
    lock the same rows in the same order."""
    values = [
        {
            "user_id": bindparam(f"totals{i}_user_id", type_=_totals.c.user_id.type),
            **{name: bindparam(f"totals{i}_{name}", type_=Integer) for name in FIGURES},
        }
        for i in range(rows)
    ]
    return _add_on_conflict(_insert(dialect).values(values))


def upsert_params(changes: dict[uuid.UUID, Share]) -> dict[str, Any] | None:
    """The parameters of :func:`upsert` for the users whose totals change, or None."""
    changed = sorted((user_id, change) for user_id, change in changes.items() if any(change))
    if not changed:
        return None
    params: dict[str, Any] = {}
    for i, (user_id, change) in enumerate(changed):
        params[f"totals{i}_user_id"] = user_id
        params.update(
            {f"totals{i}_{name}": value for name, value in zip(FIGURES, change, strict=True)}
        )
    return params


@functools.cache
def _upsert_statement(dialect: str, rows: int) -> Prepared:
    return Prepared(upsert(dialect, rows))


async def apply(session: AsyncSession, changes: dict[uuid.UUID, Share]) -> None:
    """Adds each user's difference to their totals, in the caller's transaction."""
    params = upsert_params(changes)
    if params is None:
        return
    rows = len(params) // (len(FIGURES) + 1)
    await _upsert_statement(_dialect(session), rows).all(session, params)


def read_drop_upsert(dialect: str, dropped: CTE, user_param: str) -> CTE:
    """A CTE taking one unread message off the totals of the user bound as ``user_param``, for
    each row of ``dropped`` (the thread's row after its counter dropped: ``unread`` and
    ``archived``, the reader's): one unread thread fewer if that was its last (PostgreSQL)."""
    last = dropped.c.unread == 0
    figures = select(
        bindparam(user_param, type_=_totals.c.user_id.type),
        literal(0),
        literal(0),
        case((last & ~dropped.c.archived, -1), else_=0),
        case((last & dropped.c.archived, -1), else_=0),
        literal(-1),
    )
    statement = _insert(dialect).from_select(["user_id", *FIGURES], figures)
    return _add_on_conflict(statement).cte("dropped_totals")


# ---- reads


def figures_of_user(*columns: str) -> Select[Any]:
    """One row: the named figures of the user bound as ``me`` (zeros with no totals row): an
    aggregate over their row at most, read through the primary key."""
    return select(
        *(func.coalesce(func.sum(_totals.c[name]), 0).label(name) for name in columns)
    ).where(_totals.c.user_id == bindparam("me"))


# ---- a recount from the threads (the migration's backfill, the bench's seed, the tests)


def _side(role: str) -> Select[Any]:
    t = _threads
    cutoff = t.c[f"deleted_by_{role}_at"]
    visible = t.c.is_deleted.is_(False) & (cutoff.is_(None) | (t.c.last_message_at > cutoff))
    return select(
        t.c[f"{role}_id"].label("user_id"),
        t.c[f"archived_by_{role}"].label("archived"),
        t.c[f"unread_count_{role}"].label("unread"),
    ).where(visible)


def recount() -> Select[Any]:
    """Every participant's totals as the threads have them now (users with threads in view)."""
    sides = union_all(_side("employer"), _side("candidate")).subquery("sides")
    archived, unread = sides.c.archived, sides.c.unread

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return select(
        sides.c.user_id,
        count(archived.is_(False)).label("inbox_threads"),
        count(archived.is_(True)).label("archived_threads"),
        count(archived.is_(False) & (unread > 0)).label("unread_inbox_threads"),
        count(archived.is_(True) & (unread > 0)).label("unread_archived_threads"),
        func.coalesce(func.sum(unread), 0).label("unread_messages"),
    ).group_by(sides.c.user_id)


async def drift(session: AsyncSession) -> dict[uuid.UUID, tuple[Share, Share]]:
    """Each user whose totals row differs from a recount: (kept, recounted). Empty when exact."""
    kept = {
        row.user_id: Share(*(getattr(row, name) for name in FIGURES))
        for row in (await session.execute(select(_totals))).all()
    }
    counted = {
        row.user_id: Share(*(int(getattr(row, name)) for name in FIGURES))
        for row in (await session.execute(recount())).all()
    }
    return {
        user_id: (kept.get(user_id, NOTHING), counted.get(user_id, NOTHING))
        for user_id in kept.keys() | counted.keys()
        if kept.get(user_id, NOTHING) != counted.get(user_id, NOTHING)
    }
