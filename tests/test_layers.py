"""The tree's layers, checked: ``portal`` is the domain and imports none of the packages built
on it; the HTTP packages do not reach into the composition root (``server``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> the packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "portal": {"api", "admin", "dashboard", "server"},
    "api": {"admin", "dashboard", "server"},
    "dashboard": {"admin", "server"},
    "admin": {"server"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_built_on_it(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    crossings = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for path in files
        for imported, line in sorted(imported_packages(path))
        if imported in FORBIDDEN[package]
    ]
    assert crossings == []


def test_the_rule_sees_a_crossing(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from server.app import create_app\n")
    assert ("server", 2) in imported_packages(module)
