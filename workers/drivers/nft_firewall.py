"""The real FirewallDriver: security groups as nftables rules in one host's
namespace (rules: nft_firewall_rules.py), loaded by ``nft -f`` through the
command runner. What exists is read back from the kernel (``nft -j``), so a
restarted worker, or a reconcile, starts from the truth."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from workers.drivers.errors import TransientDriverError
from workers.drivers.netns import ipr, link_index, set_sysctl
from workers.drivers.network_specs import FilterState, PortFilter
from workers.drivers.network_types import canonical_id, tap_name
from workers.drivers.nft_firewall_rules import (
    TABLE,
    FilteredPort,
    base_ruleset,
    delete_port_chains,
    dispatch,
    port_chains,
)
from workers.drivers.runner import CommandRunner

NFT_TIMEOUT_S = 20.0
_MAX_ZONE = 65535


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
            filtered, zones = self._read()
            filtered[tap] = (port_filter.port_id, port_filter.digest)
            # The port's chains first: the maps refilled after jump to them.
            chains = port_chains(tap, port_filter)
            self._load(base_ruleset() + chains + self._dispatch(filtered, zones))

    def remove_filter(self, port_id: str) -> None:
        tap = tap_name(port_id)
        with self._lock:
            filtered, zones = self._read()
            if filtered.pop(tap, None) is None:
                return
            script = base_ruleset() + self._dispatch(filtered, zones)
            self._load(script + delete_port_chains(tap))

    def list_filters(self) -> list[FilterState]:
        with self._lock:
            filtered, _ = self._read()
        return sorted((FilterState(p, d) for p, d in filtered.values()), key=lambda f: f.port_id)

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

    def _read(self) -> tuple[dict[str, tuple[str, str]], dict[str, int]]:
        """tap -> (port id, digest) for every filtered port, and the zones."""
        done = self._runner.run(
            ["nft", "-j", "list", "table", "inet", TABLE],
            check=False,
            netns=self.namespace,
            timeout=NFT_TIMEOUT_S,
        )
        if not done.ok:
            return {}, {}  # no table yet
        items = json.loads(done.stdout)["nftables"]
        filtered: dict[str, tuple[str, str]] = {}
        zones: dict[str, int] = {}
        for item in items:
            rule = item.get("rule")
            if rule and rule["chain"].startswith("out-") and "comment" in rule:
                words = rule["comment"].split()
                filtered[rule["chain"][4:]] = (canonical_id(words[2]), words[4])
            found = item.get("map")
            if found and found["name"] == "zones":
                zones.update(_zone_elements(found))
        return filtered, zones

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
