"""Transactions for staff actions whose refusal must not expire the caller's objects.

A rollback expires every object in the session, so after a refused decision the dashboard could
no longer read its own signed-in staff member (in async code a lazy reload fails outright). The
services check before they write, so a refusal usually comes with nothing to undo: then the
transaction ends with a (read-only) commit and the error is raised afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction, write_transaction
from portal.errors import PortalError


def _nothing_pending(session: AsyncSession) -> bool:
    return not (
        session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
    )


@asynccontextmanager
async def refusable(session: AsyncSession, *, write: bool = True) -> AsyncIterator[AsyncSession]:
    """``write_transaction`` (or ``read_transaction``); a PortalError raised inside while no
    change is pending commits the empty transaction and is raised after it. Any other error,
    or a refusal after a change, rolls back as usual."""
    refusal: PortalError | None = None
    transaction = write_transaction if write else read_transaction
    async with transaction(session):
        try:
            yield session
        except PortalError as exc:
            if not _nothing_pending(session):
                raise
            refusal = exc
    if refusal is not None:
        raise refusal
