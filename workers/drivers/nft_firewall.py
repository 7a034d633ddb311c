"""The real FirewallDriver: security groups as nftables rules in one host's
namespace (rules: nft_firewall_rules.py), loaded by ``nft -f`` through the
command runner. What exists is read back from the kernel (``nft -j``), so a
restarted worker, or a reconcile, starts from the truth."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workers.drivers.errors import TransientDriverError
from workers.drivers.netns import ipr, link_index, set_sysctl
from workers.drivers.network_specs import AddressSet, FilterState, PortFilter
from workers.drivers.network_types import canonical_id, tap_name
from workers.drivers.nft_firewall_rules import (
    TABLE,
    FilteredPort,
    address_set_lines,
    base_ruleset,
    delete_port_chains,
    delete_sets,
    dispatch,
    port_chains,
)
from workers.drivers.runner import CommandRunner

NFT_TIMEOUT_S = 20.0
_MAX_ZONE = 65535
_SET_NAME = re.compile(r"^sg([46])-([0-9a-f]{32})$")
_SET_REFERENCE = re.compile(r'"@(sg[46]-[0-9a-f]{32})"')


@dataclass
class _Table:
    """The table as the kernel has it: tap -> (port id, digest) of each
    filtered port, each bridge's zone, the address sets each tap's chains
    name, and the sets' members."""

    filtered: dict[str, tuple[str, str]] = field(default_factory=dict)
    zones: dict[str, int] = field(default_factory=dict)
    named: dict[str, set[str]] = field(default_factory=dict)
    sets: dict[str, list[str]] = field(default_factory=dict)

    def unnamed_sets(self) -> list[str]:
        """Sets no filtered port's chains name (``named`` as the script leaves it)."""
        wanted = {n for tap in self.filtered for n in self.named.get(tap, ())}
        return sorted(set(self.sets) - wanted)


class NftFirewall:
    """Port filters on the bridges of namespace ``namespace``."""

    def __init__(self, namespace: str | None, runner: CommandRunner) -> None:
        self.namespace = namespace
        self._runner = runner
        self._lock = threading.Lock()

    def ensure_filter(self, port_filter: PortFilter) -> None:
        tap = tap_name(port_filter.port_id)
        with self._lock:
            if self._bridge_of(tap) is None:
                raise TransientDriverError(f"{tap} is not plugged on this host")
            self._bridged_traffic_is_filtered()
            table = self._read()
            table.filtered[tap] = (port_filter.port_id, port_filter.digest)
            table.named[tap] = {s.name for s in port_filter.address_sets}
            # Sets, then the port's chains naming them, then the maps
            # jumping to the chains, then the sets no chain names any more.
            sets = [line for s in port_filter.address_sets for line in address_set_lines(s)]
            chains = port_chains(tap, port_filter)
            dispatched = self._dispatch(table.filtered, table.zones)
            unnamed = delete_sets([n for n in table.unnamed_sets() if n not in table.named[tap]])
            self._load(base_ruleset() + sets + chains + dispatched + unnamed)

    def remove_filter(self, port_id: str) -> None:
        tap = tap_name(port_id)
        with self._lock:
            table = self._read()
            if table.filtered.pop(tap, None) is None:
                return
            script = base_ruleset() + self._dispatch(table.filtered, table.zones)
            self._load(script + delete_port_chains(tap) + delete_sets(table.unnamed_sets()))

    def ensure_address_sets(self, sets: Sequence[AddressSet]) -> None:
        with self._lock:
            present = self._read().sets
            lines = [line for s in sets if s.name in present for line in address_set_lines(s)]
            if lines:
                self._load(lines)

    def list_filters(self) -> list[FilterState]:
        with self._lock:
            filtered = self._read().filtered
        return sorted((FilterState(p, d) for p, d in filtered.values()), key=lambda f: f.port_id)

    def list_address_sets(self) -> list[AddressSet]:
        with self._lock:
            sets = self._read().sets
        found = []
        for name, members in sorted(sets.items()):
            match = _SET_NAME.match(name)
            if match:
                group, ethertype = canonical_id(match[2]), f"IPv{match[1]}"
                found.append(AddressSet(group, ethertype, frozenset(members)))
        return found

    def _dispatch(
        self, filtered: Mapping[str, tuple[str, str]], zones: dict[str, int]
    ) -> list[str]:
        """Marks by the ports' sorted order (the maps are refilled whole);
        zones kept for bridges that still carry filtered ports, new ones
        given the lowest free number, so a flow keeps its zone."""
        taps = sorted(filtered)
        bridges = {b for b in (self._bridge_of(t) for t in taps) if b is not None}
        kept = {b: z for b, z in zones.items() if b in bridges}
        for bridge in sorted(bridges - kept.keys()):
            free = next(z for z in range(1, _MAX_ZONE + 1) if z not in kept.values())
            kept[bridge] = free
        ports = [FilteredPort(tap, index) for index, tap in enumerate(taps, start=1)]
        return dispatch(ports, kept)

    def _bridged_traffic_is_filtered(self) -> None:
        """Bridged IP must pass the inet hooks (br_netfilter): new namespaces
        start so (PLATFORM.md), a host may have turned it off."""
        for family in ("iptables", "ip6tables"):
            set_sysctl(self.namespace, f"net/bridge/bridge-nf-call-{family}", "1")

    def _read(self) -> _Table:
        done = self._runner.run(
            ["nft", "-j", "list", "table", "inet", TABLE],
            check=False,
            netns=self.namespace,
            timeout=NFT_TIMEOUT_S,
        )
        table = _Table()
        if not done.ok:
            return table  # no table yet
        for item in json.loads(done.stdout)["nftables"]:
            rule = item.get("rule")
            if rule and rule["chain"].startswith(("out-", "in-")):
                tap = rule["chain"].split("-", 1)[1]
                named = _SET_REFERENCE.findall(json.dumps(rule.get("expr", [])))
                table.named.setdefault(tap, set()).update(named)
                if rule["chain"].startswith("out-") and "comment" in rule:
                    words = rule["comment"].split()
                    table.filtered[tap] = (canonical_id(words[2]), words[4])
            found = item.get("map")
            if found and found["name"] == "zones":
                table.zones.update(_zone_elements(found))
            found = item.get("set")
            if found and _SET_NAME.match(found["name"]):
                table.sets[found["name"]] = [str(e) for e in found.get("elem", [])]
        return table

    def _bridge_of(self, tap: str) -> str | None:
        with ipr(self.namespace) as ip:
            index = link_index(ip, tap)
            if index is None:
                return None
            master = ip.get_links(index)[0].get("master")
            if not master:
                return None
            return str(ip.get_links(master)[0].get("ifname"))

    def _load(self, lines: list[str]) -> None:
        self._runner.run(
            ["nft", "-f", "-"],
            input="\n".join(lines) + "\n",
            netns=self.namespace,
            timeout=NFT_TIMEOUT_S,
        )


def _zone_elements(found: dict[str, Any]) -> dict[str, int]:
    return {str(key): int(value) for key, value in found.get("elem", [])}
