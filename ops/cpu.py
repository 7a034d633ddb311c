"""CPU used by the control plane's processes, read from /proc, for benchmarks.

Each process is labelled by its role (`api`, `relay`, `compute-1`, `postgres`,
`redis` ...); a process's figure includes its exited children (a compute
worker's qemu-img runs, PostgreSQL's finished backends). Processes of this
machine that are not the control plane's are left out."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _label(cmdline: list[str]) -> str | None:
    joined = " ".join(cmdline)
    if "ops.cli" in joined or joined.endswith("/cloudledger run"):
        args = cmdline[cmdline.index("ops.cli") + 1 :] if "ops.cli" in cmdline else ["run"]
        if args[:2] == ["worker", "compute"] and "--host" in args:
            return args[args.index("--host") + 1]
        return args[1] if args[:1] == ["worker"] and len(args) > 1 else args[0]
    if cmdline and cmdline[0].startswith("redis-server"):
        return "redis"
    if cmdline and (cmdline[0].endswith("/postgres") or cmdline[0].startswith("postgres:")):
        return "postgres"
    return None


def snapshot(extra_pids: dict[int, str] | None = None) -> dict[str, float]:
    """CPU seconds so far by role (user + system, children included)."""
    totals: dict[str, float] = defaultdict(float)
    named = extra_pids or {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        label = named.get(int(proc.name)) or _label([c for c in cmdline if c])
        if label is None:
            continue
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
        totals[label] += (utime + stime + cutime + cstime) / TICKS
    return dict(totals)


def table(before: dict[str, float], after: dict[str, float], per: int) -> str:
    """Milliseconds of CPU per unit of work (e.g. per boot+delete), by role."""
    used = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    rows = sorted(((v, k) for k, v in used.items() if v > 0), reverse=True)
    total = sum(v for v, _ in rows)
    lines = [f"CPU per server (ms), {per} servers:"]
    lines += [f"  {k:<12} {v * 1000 / per:8.1f}" for v, k in rows]
    lines.append(f"  {'total':<12} {total * 1000 / per:8.1f}")
    return "\n".join(lines)
