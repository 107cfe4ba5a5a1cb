"""Where a benchmark's CPU goes, from outside (docs/scaling.md): the app's workers, PostgreSQL's
backends of the bench database, wrk, and the bench process (which runs the floor).

    .venv/bin/python -m bench.cpu_split --log /tmp/bench.log --database portal_bench > cpu.tsv
    .venv/bin/python -m bench.cpu_split --summary cpu.tsv

Linux only (reads /proc). Every ``--interval`` seconds it writes one line: the time, the CPU
seconds each group used since the last line, and the last line of the bench's log, so that the
samples can be grouped by the operation being measured, and how many wrk processes are running
(a wrk run is the API's; the floor's follows with none).
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


def summary(path: Path) -> None:
    """Per stretch of the log (a stretch runs until the bench prints its next line, so it holds
    the measurement that line reports): seconds and CPU seconds of each group while wrk ran (the
    API's warm-up and run) and after (the floor)."""
    stretches: list[tuple[str, list[list[float]], list[list[float]]]] = []
    for line in path.read_text().splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < 7:
            continue
        values = [float(v) for v in fields[: 1 + len(GROUPS)]]
        if not stretches or stretches[-1][0] != fields[-1]:
            stretches.append((fields[-1], [], []))
        stretches[-1][1 if int(fields[1 + len(GROUPS)]) else 2].append(values)
    for log, with_wrk, without in stretches:
        if not with_wrk:
            continue
        parts = []
        for name, samples in (("wrk running", with_wrk), ("after", without)):
            seconds = samples[-1][0] - samples[0][0] if len(samples) > 1 else 0.0
            cpu = " ".join(
                f"{g} {sum(s[1 + i] for s in samples):.2f}" for i, g in enumerate(GROUPS)
            )
            parts.append(f"{name} {seconds:.1f} s: {cpu}")
        print(f"{log[:40]:<40} | " + " | ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path)
    parser.add_argument("--database")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--summary", type=Path, help="summarise a sampled file instead")
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
        return
    if args.log is None or args.database is None:
        parser.error("--log and --database are required to sample")
    before: dict[int, int] = {}
    first = True
    print("time\t" + "\t".join(GROUPS) + "\twrk processes\tlog", flush=True)
    while True:
        procs = _processes()
        used = dict.fromkeys(GROUPS, 0)
        wrk = 0
        for pid, (_, _, ticks) in procs.items():
            group = _group(pid, procs, args.database)
            wrk += group == "wrk"
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
            + f"\t{wrk}\t{last}",
            flush=True,
        )
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
