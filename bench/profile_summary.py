"""Summarises a py-spy raw (collapsed stacks) profile from ``bench.run --profile OP``.

    .venv/bin/python -m bench.profile_summary var/bench/profile-list.txt

Prints the share of samples whose stack passes through each area of interest (inclusive), and
the top frames by own time (the innermost frame of a sample).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# Where in a request a sample is, by the outermost matching frame of its stack (inclusive).
PHASES = {
    "in Litestar (app.__call__: middleware, routing, handler, response)": r"Litestar\.__call__",
    "  authentication middleware (JWT + user lookup)": r"authenticate_request \(api/auth",
    "    of it JWT check (remembered tokens, else PyJWT)": r"VerifiedTokens\.claims|decode_token",
    "  route handler (the service call)": r"_call_handler_function",
    "  caller checks (guards, the user dependency)": r"_run_guards|provide_user \(api/",
    "  response (msgspec encoding, headers)": r"to_asgi_response|_get_response_data|encode_json",
    "SQLAlchemy (any frame)": r"sqlalchemy/",
    "  ORM loading (instances, identity map, InstanceState)": r"sqlalchemy/orm/loading",
    "  statement compilation + cache key": r"compiler\.py|cache_key\.py",
    "  pool (checkout, pre-ping, return/reset)": r"sqlalchemy/pool/",
    "  session begin/commit/close": r"AsyncSession\.(commit|close|__aexit__)|SessionTransaction",
    "psycopg driver (any frame)": r"psycopg/",
    "  opening/closing connections (pool overflow)": r"_connect_gen|AsyncConnection\.close",
    "worker-thread hop (ThreadPoolExecutor)": r"concurrent/futures|to_thread|run_sync",
    "uvicorn access log (logging)": r"logging/__init__",
    # SQLAlchemy runs its sync core in greenlets, whose stacks py-spy shows without the frames
    # that spawned them, so "outside" excludes those too.
    "outside the app: uvicorn/h11 parsing and writing, the event loop": (
        r"^(?!.*(Litestar|sqlalchemy/|psycopg/|concurrent/futures|threading\.py))"
    ),
}
# The library of the innermost frame (own time).
PACKAGES = re.compile(
    r"\((?:.*/)?(?P<pkg>sqlalchemy|psycopg|litestar|h11|uvicorn|asyncio|jwt|cryptography|"
    r"msgspec|greenlet|concurrent|logging|portal|api|admin|advanced_alchemy|json|selectors|"
    r"threading|typing|uuid|datetime|copy|re|enum)[/.]"
)

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def parse(path: Path) -> list[tuple[list[str], int]]:
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and frames[0].startswith("thread "):
            frames = frames[1:]
        samples.append((frames, int(count)))
    return samples


def _short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    return f"{match['func']} ({match['file']})"


def summarise(path: Path, top: int = 25) -> str:
    samples = parse(path)
    total = sum(count for _, count in samples)
    lines = [f"{path}: {total} samples"]
    lines.append("\nWhere (inclusive, % of all samples):")
    for name, pattern in PHASES.items():
        regex = re.compile(pattern)
        if pattern.startswith("^"):
            hit = sum(count for frames, count in samples if regex.match(";".join(frames)))
        else:
            hit = sum(count for frames, count in samples if any(regex.search(f) for f in frames))
        lines.append(f"  {100 * hit / total:5.1f}%  {name}")
    by_package: Counter[str] = Counter()
    for frames, count in samples:
        match = PACKAGES.search(frames[-1]) if frames else None
        by_package[match["pkg"] if match else "other"] += count
    lines.append("\nOwn time by library of the innermost frame:")
    for package, count in by_package.most_common(12):
        lines.append(f"  {100 * count / total:5.1f}%  {package}")
    own: Counter[str] = Counter()
    for frames, count in samples:
        if frames:
            own[_short(frames[-1])] += count
    lines.append(f"\nTop {top} frames by own time:")
    for frame, count in own.most_common(top):
        lines.append(f"  {100 * count / total:5.1f}%  {frame}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1])))
