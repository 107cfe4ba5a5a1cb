"""``portal audit verify`` on crafted files: each is one "FAILED: reason" line and a non-zero
exit, never a traceback, an exhausted memory or a hang."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.services.compliance.chain import canonical
from portal.settings import Settings
from server.cli import main
from tests.portal.test_audit_verify import exported
from tests.portal.test_report_binding import rechained

SEAL = b',"seal":{}}'


def verify(path: Path | str, *options: str) -> Result:
    return CliRunner().invoke(main, ["audit", "verify", str(path), "--allow-unsigned", *options])


def assert_refused(result: Result, reason: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert "Traceback" not in result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("FAILED: ") and reason in line, line


CRAFTED: dict[str, tuple[bytes, str]] = {
    "deep nesting": (b'{"report":' + b"[" * 200_000 + b"]" * 200_000 + SEAL, "nested"),
    "nesting the parser survives": (b'{"report":' + b"[" * 500 + b"]" * 500 + SEAL, "nested"),
    "a 5,000-digit number": (b'{"report":{"n":' + b"9" * 5000 + b"}" + SEAL, "5000 digits"),
    "an integer beyond 2^53": (b'{"report":{"n":9007199254740993}' + SEAL, "out of range"),
    "a float": (b'{"report":{"n":1e999}' + SEAL, "not an integer"),
    "NaN": (b'{"report":{"n":NaN}' + SEAL, "NaN"),
    "a lone surrogate": (b'{"report":{"thread":{"id":"\\ud800"}}' + SEAL, "lone surrogate"),
    "a lone surrogate in a key": (b'{"report":{"\\udc00":1}' + SEAL, "lone surrogate"),
    "invalid UTF-8": (b'{"report":"\xff"}', "not UTF-8"),
    "not JSON": (b"PK\x03\x04", "not valid JSON"),
    "empty": (b"", "not valid JSON"),
    "an array": (b"[]", "a JSON object expected"),
    "no seal": (b'{"report":{}}', "'report' and 'seal'"),
    "events not a list": (b'{"report":{"chain":{"events":{}}}' + SEAL, "'events'"),
}


@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_files_fail_in_one_line(name: str, tmp_path: Path) -> None:
    content, reason = CRAFTED[name]
    path = tmp_path / "crafted.json"
    path.write_bytes(content)
    assert_refused(verify(path), reason)


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it for reading would wait forever
    assert_refused(verify(fifo), "not a regular file")
    if Path("/dev/zero").exists():
        assert_refused(verify("/dev/zero"), "not a regular file")
    assert_refused(verify(tmp_path / "missing.json"), "cannot read")
    assert_refused(verify(tmp_path), "not a regular file")
    # The public key is read the same way: a FIFO given as the key does not hang either.
    key = CliRunner().invoke(main, ["audit", "verify", str(tmp_path), "--public-key", str(fifo)])
    assert key.exit_code == 1 and "--public-key:" in key.stderr and "not a regular" in key.stderr


def test_reading_stops_at_the_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2000)
    assert_refused(verify(path, "--max-bytes", "1000"), "more than --max-bytes 1000")


Edit = Callable[[dict[str, Any]], None]


def _set(path: tuple[str | int, ...], value: Any) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        target: Any = document["report"]
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return edit


WRONG_TYPES: dict[str, tuple[Edit, str]] = {
    "a message id that is a list": (_set(("messages", 0, "id"), ["x"]), "not a string"),
    "an event subject that is a list": (
        _set(("chain", "events", 1, "subject_id"), ["x"]),
        "subject_id is not a str",
    ),
    "an event position that is a string": (
        _set(("chain", "events", 1, "position"), "1"),
        "position is not a int",
    ),
    "an event that is a list": (_set(("chain", "events", 1), []), "not an event"),
    "a flag id that is an object": (_set(("flags", 0, "id"), {}), "not a string"),
    "participants that are a string": (_set(("participants",), "x"), "participants"),
    "messages that are an object": (_set(("messages",), {"a": 1}), "'messages'"),
    "a message that is a number": (_set(("messages", 1), 7), "not an object"),
    "holds that are null": (_set(("holds",), None), "'holds'"),
    "a thread id that is a list": (_set(("thread", "id"), [1]), "not the chain of thread"),
}


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_fields_of_the_wrong_type_fail_in_one_line(
    session: AsyncSession, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    data = await exported(session, engine, settings)
    path = tmp_path / "report.json"
    for name, (edit, reason) in WRONG_TYPES.items():
        document = json.loads(data)
        edit(document)
        try:  # every hash recomputed, so that only the type is wrong
            content = rechained(document)
        except TypeError:  # an event that is no object has no hash to recompute
            content = canonical(document)
        path.write_bytes(content)
        result = verify(path)
        assert reason in result.stderr, (name, result.stderr)
        assert_refused(result, reason)
