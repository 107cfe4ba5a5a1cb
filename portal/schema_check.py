"""Compares a migrated database with the models: the migrations must build exactly the models."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.types import GUID
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import types
from sqlalchemy.engine import Connection

from portal.models import Base


def compare_type(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: types.TypeEngine[Any],
    metadata_type: types.TypeEngine[Any],
) -> bool | None:
    """Alembic's type comparison, taught that SQLite reads GUID's BINARY(16) back as NUMERIC(16)."""
    if isinstance(metadata_type, GUID) and context.dialect.name == "sqlite":
        return not (
            isinstance(inspected_type, types.NUMERIC | types.BINARY)
            and getattr(inspected_type, "precision", None) in (16, None)
        )
    return None


def schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": compare_type, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))
