"""Job-seconds by rule from a Snakemake log (the measure of the README's performance table).

    python tools/job_seconds.py [.snakemake/log/<run>.snakemake.log]   # default: the newest

Each job's time runs from the timestamp above its ``rule X:`` (or ``localrule X:``) block
to the timestamp above ``Finished jobid: N``; Snakemake stamps whole seconds.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
DONE = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def job_seconds(log: Path) -> tuple[dict[str, list[float]], float]:
    """Durations of the finished jobs by rule, and the wall time from first to last stamp."""
    stamp = first = None
    pending: str | None = None
    started: dict[str, datetime] = {}
    by_rule: dict[str, list[float]] = defaultdict(list)
    for line in log.read_text().splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
            first = first or stamp
        elif m := START.match(line):
            pending = m.group(1)
        elif (m := JOBID.match(line)) and pending:
            started[m.group(1)] = stamp
            pending = None
        elif m := DONE.match(line):
            if m.group(1) in started:
                by_rule[m.group(2)].append((stamp - started.pop(m.group(1))).total_seconds())
    return by_rule, (stamp - first).total_seconds() if first else 0.0


def main(argv: list[str]) -> int:
    log = Path(argv[0]) if argv else max(Path(".snakemake/log").glob("*.log"), key=lambda p: p.stat().st_mtime)
    by_rule, wall = job_seconds(log)
    rows = sorted(by_rule.items(), key=lambda kv: -sum(kv[1]))
    print("| rule | jobs | job-s |\n|---|---:|---:|")
    for rule, secs in rows:
        print(f"| `{rule}` | {len(secs)} | {sum(secs):.0f} |")
    total = sum(sum(s) for s in by_rule.values())
    print(f"| **total** | {sum(len(s) for s in by_rule.values())} | **{total:.0f}** |")
    print(f"\nwall {int(wall // 60)} min {wall % 60:02.0f} s ({log})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
