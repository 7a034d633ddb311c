"""Reading ``tgtadm --op show --mode target``: tgt's only report of its
targets, LUNs, sessions, accounts and ACLs (text, indented by section)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TARGET = re.compile(r"Target (\d+): (\S+)$")
_LUN = re.compile(r"LUN: (\d+)$")
_BACKING = re.compile(r"Backing store path: (.*)$")
_INITIATOR = re.compile(r"Initiator: (\S+)")
_SECTIONS = {
    "I_T nexus information:": "nexus",
    "LUN information:": "luns",
    "Account information:": "accounts",
    "ACL information:": "acl",
}


@dataclass
class ShownTarget:
    """One target as tgtd reports it."""

    tid: int
    iqn: str
    luns: dict[int, str | None] = field(default_factory=dict)  # LUN -> backing path
    sessions: list[str] = field(default_factory=list)  # initiator names logged in
    accounts: list[str] = field(default_factory=list)  # incoming CHAP users
    acl: list[str] = field(default_factory=list)  # initiator names and addresses


def parse_targets(text: str) -> list[ShownTarget]:
    """The targets in a ``show --mode target`` report, in the order given."""
    targets: list[ShownTarget] = []
    section = ""
    lun: int | None = None
    for raw in text.splitlines():
        line = raw.strip()
        top = _TARGET.match(raw)
        if top:
            targets.append(ShownTarget(int(top.group(1)), top.group(2)))
            section, lun = "", None
            continue
        if not targets or not line:
            continue
        if raw.startswith("    ") and not raw.startswith("     ") and line.endswith(":"):
            section = _SECTIONS.get(line, "")
            continue
        _read_line(targets[-1], section, line, lun)
        if section == "luns" and (found := _LUN.match(line)):
            lun = int(found.group(1))
    return targets


def _read_line(target: ShownTarget, section: str, line: str, lun: int | None) -> None:
    if section == "luns":
        if found := _LUN.match(line):
            target.luns[int(found.group(1))] = None
        elif (found := _BACKING.match(line)) and lun is not None:
            path = found.group(1).strip()
            target.luns[lun] = None if path in ("", "None") else path
    elif section == "nexus":
        if found := _INITIATOR.match(line):
            target.sessions.append(found.group(1))
    elif section == "accounts":
        if not line.endswith("(outgoing)"):
            target.accounts.append(line)
    elif section == "acl":
        target.acl.append(line)


def parse_accounts(text: str) -> list[str]:
    """The names in a ``show --mode account`` report."""
    lines = text.splitlines()
    return [line.strip() for line in lines[1:] if line.strip()] if lines else []
