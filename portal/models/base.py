"""Declarative base: UUIDv7 keys, timezone-aware UTC timestamps, named constraints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import Insert, MetaData, Table, bindparam, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from uuid_utils.compat import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> uuid.UUID:
    return uuid7()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        uuid.UUID: GUID,
        datetime: DateTimeUTC(timezone=True),
        dict[str, Any]: JsonB,
        list[dict[str, Any]]: JsonB,
    }

    if TYPE_CHECKING:
        # Every model here is mapped to a Table (SQLAlchemy types it as any FromClause), so that
        # Core statements over ``Model.__table__`` (insert, update, insert_row) type-check.
        __table__: ClassVar[Table]


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class CreatedMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimestampsMixin(CreatedMixin):
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that a column holds one of a fixed set of strings."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def insert_values(row: Base, prefix: str = "") -> dict[str, Any]:
    """Every column of a new ``row`` as the unit of work would insert it: the value set, else
    the column's Python default, else None; keyed ``{prefix}{column key}``, the parameters of
    :func:`insert_row`. The values are set on ``row`` too, so that the object reads as the
    stored row when it is inserted with a Core statement instead."""
    values: dict[str, Any] = {}
    for column in row.__table__.c:
        key = column.key
        value = row.__dict__[key] if key in row.__dict__ else python_default(column.default)
        values[prefix + key] = value
        setattr(row, key, value)
    return values


def insert_row(table: Table, prefix: str = "") -> Insert:
    """A Core INSERT of one row of ``table``, every column bound as ``{prefix}{column key}``
    (the keys of :func:`insert_values`). A prefix keeps the names apart from another
    statement's when the insert is part of a larger one (a CTE)."""
    server_defaults = [column.key for column in table.c if column.server_default is not None]
    if server_defaults:
        # Every column is bound, so the database's default would never be used.
        raise TypeError(f"insert_row binds every column; {server_defaults} have server defaults")
    return insert(table).values({column: bindparam(prefix + column.key) for column in table.c})


def python_default(default: Any) -> Any:
    """The value of a column's Python-side default (``default=`` or ``onupdate=``), or None."""
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)  # SQLAlchemy's wrapper takes the execution context
    raise TypeError(f"not a Python-side column default: {default!r}")
