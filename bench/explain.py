"""The EXPLAIN check: the app's own statements for each hot operation, planned on the seeded data.

The statements are captured from the real application (``create_app`` in this process, one
request per case through Litestar's test client, every statement recorded where it reaches
psycopg's cursor), so the check follows the code as it changes. Each captured SELECT,
INSERT, UPDATE or DELETE is planned with ``EXPLAIN (FORMAT JSON)`` (not run) with its own
parameters; a sequential scan of ``messages`` or ``message_threads`` is a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

GUARDED_TABLES = frozenset({"messages", "message_threads"})
PLANNED_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    token: str
    body: dict[str, Any] | None = None


@dataclass
class Checked:
    case: str
    status: int
    statements: int = 0
    scans: list[str] = field(default_factory=list)  # "Index Scan on messages (ix_…)", …
    seq_scans: list[str] = field(default_factory=list)  # what breaks the rule, with the SQL


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _describe(node: dict[str, Any]) -> str | None:
    relation = node.get("Relation Name")
    index = node.get("Index Name")
    if relation is None:
        return f"{node['Node Type']} ({index})" if index else None
    return f"{node['Node Type']} on {relation}" + (f" ({index})" if index else "")


async def capture_and_check(app: Any, dsn: str, cases: list[Case]) -> list[Checked]:
    """Sends each case to ``app`` and plans the statements it ran."""
    from litestar.testing import AsyncTestClient

    captured: list[tuple[str, Any]] = []
    execute = psycopg.AsyncCursor.execute

    async def record(cursor: Any, query: Any, params: Any = None, *args: Any, **kw: Any) -> Any:
        captured.append((str(query), params))
        return await execute(cursor, query, params, *args, **kw)

    psycopg.AsyncCursor.execute = record  # type: ignore[method-assign]
    results: list[Checked] = []
    try:
        async with AsyncTestClient(app, base_url="http://127.0.0.1") as client:  # an allowed host
            per_case: list[tuple[Case, int, list[tuple[str, Any]]]] = []
            for case in cases:
                captured.clear()
                response = await client.request(
                    case.method,
                    case.path,
                    headers={"Authorization": f"Bearer {case.token}"},
                    json=case.body,
                )
                per_case.append((case, response.status_code, list(captured)))
    finally:
        psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for case, status, statements in per_case:
            checked = Checked(case=case.name, status=status)
            for statement, parameters in statements:
                if not statement.lstrip().upper().startswith(PLANNED_VERBS):
                    continue
                checked.statements += 1
                plan = conn.execute(
                    "EXPLAIN (FORMAT JSON) " + statement, parameters or None
                ).fetchone()[0]  # type: ignore[index]
                if isinstance(plan, str):
                    plan = json.loads(plan)
                for node in _nodes(plan[0]["Plan"]):
                    described = _describe(node)
                    if described is None:
                        continue
                    checked.scans.append(described)
                    if node["Node Type"] == "Seq Scan" and node["Relation Name"] in GUARDED_TABLES:
                        short = " ".join(statement.split())[:300]
                        checked.seq_scans.append(f"{described}: {short}")
            results.append(checked)
    return results
