"""The migration chain builds exactly the models, on both backends, and unwinds cleanly."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect

from portal import migrate
from portal.database import create_engine
from portal.models import Base
from portal.schema_check import schema_differences


async def _differences_and_tables(url: str) -> tuple[list[object], set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(schema_differences)
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return differences, tables


def _inspect(url: str) -> tuple[list[object], set[str]]:
    return asyncio.run(_differences_and_tables(url))


def test_upgrade_builds_exactly_the_models(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    differences, tables = _inspect(empty_database_url)
    assert differences == []
    assert set(Base.metadata.tables) <= tables


def test_downgrade_to_base_then_upgrade_again(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    _, tables = _inspect(empty_database_url)
    assert tables & set(Base.metadata.tables) == set()
    migrate.upgrade(empty_database_url)
    differences, _ = _inspect(empty_database_url)
    assert differences == []


def test_one_linear_chain() -> None:
    assert migrate.revision_ids(), "there must be at least one migration"
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
