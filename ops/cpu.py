"""CPU used by one stack's processes, read from /proc, for benchmarks.

The stack is the process tree of the `cloudledger run` serving the API
(``stack_root``): its children and theirs, and nothing else of this machine,
another stack's processes included. Each process is labelled by its role
(`api`, `relay`, `compute-1`, `postgres`, `redis` ...); a process's figure
includes its exited children (a compute worker's qemu-img runs,
PostgreSQL's finished backends)."""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"  # a socket's state in /proc/net/tcp


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    label: str | None  # its role, None if it is none of the stack's
    seconds: float  # user + system, exited children included


def _label(cmdline: list[str]) -> str | None:
    joined = " ".join(cmdline)
    # `cloudledger run ...`, or its script run by the venv's interpreter
    started_as_run = any(
        word.endswith("cloudledger") and after == "run"
        for word, after in itertools.pairwise(cmdline[:3])
    )
    if "ops.cli" in joined or started_as_run:
        args = cmdline[cmdline.index("ops.cli") + 1 :] if "ops.cli" in cmdline else ["run"]
        if args[:2] == ["worker", "compute"] and "--host" in args:
            return args[args.index("--host") + 1]
        return args[1] if args[:1] == ["worker"] and len(args) > 1 else args[0]
    if cmdline and cmdline[0].startswith("redis-server"):
        return "redis"
    if cmdline and (cmdline[0].endswith("/postgres") or cmdline[0].startswith("postgres:")):
        return "postgres"
    return None


def processes(proc: Path = Path("/proc")) -> dict[int, Process]:
    found = {}
    for entry in proc.glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
        pid = int(entry.name)
        found[pid] = Process(
            pid,
            int(fields[1]),
            _label([c for c in cmdline if c]),
            (utime + stime + cutime + cstime) / TICKS,
        )
    return found


def tree(root: int, found: dict[int, Process]) -> set[int]:
    """``root`` and every process descended from it."""
    children: dict[int, list[int]] = defaultdict(list)
    for process in found.values():
        children[process.parent].append(process.pid)
    members, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in members:
            members.add(pid)
            todo += children.get(pid, [])
    return members


def listener(port: int, proc: Path = Path("/proc")) -> int | None:
    """The process listening on a TCP ``port`` of this network namespace."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for fd in proc.glob("[0-9]*/fd/*") if inodes else ():
        try:
            if os.readlink(fd) in inodes:
                return int(fd.parent.parent.name)
        except OSError:
            continue
    return None


def stack_root(api_port: int) -> int | None:
    """The `cloudledger run` whose API listens on ``api_port`` (the API
    process itself if no `cloudledger run` started it); None if nothing
    listens there."""
    api = listener(api_port)
    if api is None:
        return None
    found = processes()
    pid = api
    while pid in found and pid > 1:
        if found[pid].label == "run":
            return pid
        pid = found[pid].parent
    return api


def snapshot(root: int | None, extra_pids: dict[int, str] | None = None) -> dict[str, float]:
    """CPU seconds so far by role of ``root``'s tree (user + system, children
    included), and of ``extra_pids`` under the labels given."""
    totals: dict[str, float] = defaultdict(float)
    found = processes()
    named = extra_pids or {}
    members = tree(root, found) if root is not None else set()
    for process in found.values():
        label = named.get(process.pid) or (process.label if process.pid in members else None)
        if label is not None:
            totals[label] += process.seconds
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
