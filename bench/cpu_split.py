"""Where a benchmark's CPU goes, from outside (docs/scaling.md): the app's workers, PostgreSQL's
backends of the bench database, wrk, and the bench process (which runs the floor).

    .venv/bin/python -m bench.cpu_split --log /tmp/bench.log --database portal_bench > cpu.tsv

Linux only (reads /proc). Every ``--interval`` seconds it writes one line: the time, the CPU
seconds each group used since the last line, and the last line of the bench's log, so that the
samples can be grouped by the operation being measured (a wrk run is the API's; the floor's
follows with wrk idle).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
ROOT = str(Path(__file__).resolve().parent.parent)  # only this checkout's bench, app and wrk
GROUPS = ("app", "db", "wrk", "bench")


def _processes() -> dict[int, tuple[int, str, int]]:
    """pid: (parent pid, command line, CPU ticks so far)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(entry.name)] = (int(fields[1]), cmdline, int(fields[11]) + int(fields[12]))
    return out


def _group(pid: int, procs: dict[int, tuple[int, str, int]], database: str) -> str | None:
    cmdline = procs[pid][1]
    if cmdline.startswith("postgres: ") and f" {database} " in cmdline:
        return "db"
    try:
        if not os.readlink(f"/proc/{pid}/cwd").startswith(ROOT):
            return None
    except OSError:
        return None
    if cmdline.startswith("wrk "):
        return "wrk"
    if "bench.run" in cmdline:
        return "bench"
    seen = 0
    while pid in procs and seen < 10:  # the serve process and everything under it
        if " serve --port " in procs[pid][1]:
            return "app"
        pid, seen = procs[pid][0], seen + 1
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    before: dict[int, int] = {}
    first = True
    print("time\t" + "\t".join(GROUPS) + "\tlog", flush=True)
    while True:
        procs = _processes()
        used = dict.fromkeys(GROUPS, 0)
        for pid, (_, _, ticks) in procs.items():
            group = _group(pid, procs, args.database)
            if group is not None:
                used[group] += ticks - before.get(pid, ticks if first else 0)
            before[pid] = ticks
        first = False
        try:
            lines = args.log.read_text().splitlines()
            last = lines[-1] if lines else ""
        except OSError:
            last = ""
        print(
            f"{time.time():.1f}\t"
            + "\t".join(f"{used[g] / TICKS:.2f}" for g in GROUPS)
            + f"\t{last}",
            flush=True,
        )
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
