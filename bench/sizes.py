"""How much disk the seeded world takes (docs/scaling.md): the database, the messages table and
each of its indexes, and the other big tables, printed by the benchmark after each phase."""

from __future__ import annotations

from typing import Any

import psycopg

TABLES = ("messages", "audit_events", "message_threads")


def database_sizes(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Bytes: ``database``; per table its heap (with TOAST) as ``TABLE`` and all its indexes as
    ``TABLE indexes``; and each index of ``messages`` by name."""
    sizes: dict[str, int] = {}
    for table in TABLES:
        row = conn.execute(
            "SELECT pg_database_size(current_database()), pg_table_size(%s::regclass),"
            " pg_indexes_size(%s::regclass)",
            (table, table),
        ).fetchone()
        assert row is not None
        sizes["database"], sizes[table], sizes[f"{table} indexes"] = row
    for name, size in conn.execute(
        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index"
        " WHERE indrelid = 'messages'::regclass ORDER BY 2 DESC"
    ).fetchall():
        sizes[f"index {name}"] = size
    return sizes


def describe(sizes: dict[str, int]) -> str:
    return ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in sizes.items())
