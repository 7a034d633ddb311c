"""In-memory network drivers, for the test-driver path and for unit tests of
network jobs; tests/integration/test_network_contract.py holds them to the
same promises as the real ones. Each can be told to fail its next call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from workers.drivers.errors import DriverError, PermanentDriverError, TransientDriverError
from workers.drivers.network import NetworkDrivers
from workers.drivers.network_specs import (
    AddressSet,
    DhcpHost,
    DhcpService,
    DhcpState,
    FilterState,
    PortFilter,
    RouterSpec,
    RouterState,
)
from workers.drivers.network_types import (
    PluggedPort,
    PortBinding,
    Segment,
    SegmentState,
    bridge_name,
    canonical_id,
    check_ip,
    tap_name,
)


class _Failing:
    """Raises a planted error on the next call, once."""

    _next_error: DriverError | None = None

    def fail_next(self, error: DriverError) -> None:
        self._next_error = error

    def _raise_if_told(self) -> None:
        error, self._next_error = self._next_error, None
        if error is not None:
            raise error


class FakePorts(_Failing):
    """Ports and segments of one host, in dicts. ``kinds`` are the segment
    kinds this host can make (like a kernel without 802.1Q)."""

    def __init__(
        self,
        local_vtep: str | None = None,
        *,
        kinds: frozenset[str] = frozenset({"vxlan"}),
        flat_bridges: Mapping[str, str] | None = None,
    ) -> None:
        self._local = check_ip(local_vtep) if local_vtep else None
        self._kinds = kinds
        self._flat = dict(flat_bridges or {})
        self._ports: dict[str, PortBinding] = {}
        self._segments: dict[str, Segment] = {}

    def ensure_port(self, port: PortBinding) -> str:
        self._raise_if_told()
        segment = port.segment
        if segment.kind == "flat":
            if segment.physical_network not in self._flat:
                raise PermanentDriverError(f"no bridge for flat network {segment.physical_network}")
        elif segment.kind not in self._kinds:
            raise PermanentDriverError(f"{segment.kind} segments are unavailable on this host")
        previous = self._ports.get(port.port_id)
        self._ports[port.port_id] = port
        if segment.network_id not in self._segments and segment.kind != "flat":
            self._segments[segment.network_id] = segment
        if previous is not None:
            self._forget_if_unused(previous.segment.network_id)
        return port.tap

    def remove_port(self, port_id: str) -> None:
        self._raise_if_told()
        port = self._ports.pop(canonical_id(port_id), None)
        if port is not None:
            self._forget_if_unused(port.segment.network_id)

    def update_segment(self, segment: Segment) -> None:
        self._raise_if_told()
        if segment.network_id in self._segments:
            self._segments[segment.network_id] = segment

    def list_ports(self) -> list[PluggedPort]:
        self._raise_if_told()
        return [
            PluggedPort(p.port_id, p.segment.network_id, p.tap)
            for p in sorted(self._ports.values(), key=lambda p: p.port_id)
        ]

    def list_segments(self) -> list[SegmentState]:
        self._raise_if_told()
        return [self._state(self._segments[n]) for n in sorted(self._segments)]

    def is_plugged(self, port_id: str) -> bool:
        return canonical_id(port_id) in self._ports

    def _state(self, segment: Segment) -> SegmentState:
        device = f"vxlan-{segment.segmentation_id}" if segment.kind == "vxlan" else None
        vteps = segment.vteps - {self._local} if segment.kind == "vxlan" else frozenset()
        return SegmentState(segment.network_id, bridge_name(segment.network_id), device, vteps)

    def _forget_if_unused(self, network_id: str) -> None:
        if not any(p.segment.network_id == network_id for p in self._ports.values()):
            self._segments.pop(network_id, None)


@dataclass
class _Service:
    spec: DhcpService
    hosts: dict[str, DhcpHost] = field(default_factory=dict)
    running: bool = True
    reloads: int = 0
    starts: int = 1


class FakeDhcp(_Failing):
    """DHCP services in a dict; ``kill_server`` plays a server dying."""

    def __init__(self) -> None:
        self._services: dict[str, _Service] = {}

    def ensure_host(self, service: DhcpService, host: DhcpHost) -> None:
        self._raise_if_told()
        current = self._ensure(service)
        if current.hosts.get(host.port_id) != host:
            current.hosts[host.port_id] = host
            current.reloads += 1

    def remove_host(self, network_id: str, port_id: str) -> None:
        self._raise_if_told()
        current = self._services.get(canonical_id(network_id))
        if current is None or current.hosts.pop(canonical_id(port_id), None) is None:
            return
        current.reloads += 1
        if not current.hosts:
            del self._services[current.spec.network_id]

    def ensure_service(self, service: DhcpService, hosts: frozenset[DhcpHost]) -> None:
        self._raise_if_told()
        if not hosts:
            self._services.pop(service.network_id, None)
            return
        current = self._ensure(service)
        current.hosts = {h.port_id: h for h in hosts}

    def remove_service(self, network_id: str) -> None:
        self._raise_if_told()
        self._services.pop(canonical_id(network_id), None)

    def list_services(self) -> list[DhcpState]:
        self._raise_if_told()
        return [
            DhcpState(n, s.running, frozenset(s.hosts.values()), {}, s.spec.metadata)
            for n, s in sorted(self._services.items())
        ]

    def kill_server(self, network_id: str) -> None:
        """Play the network's server dying (tests of supervision)."""
        self._services[canonical_id(network_id)].running = False

    def starts(self, network_id: str) -> int:
        """How often the network's server was started (tests of reloads)."""
        return self._services[canonical_id(network_id)].starts

    def _ensure(self, service: DhcpService) -> _Service:
        current = self._services.get(service.network_id)
        if current is None:
            current = self._services[service.network_id] = _Service(service)
        elif current.spec != service or not current.running:
            current.spec, current.running = service, True
            current.starts += 1
        return current


class FakeRouters(_Failing):
    """Routers in a dict, each as its last spec."""

    def __init__(self) -> None:
        self._routers: dict[str, RouterSpec] = {}

    def ensure_router(self, spec: RouterSpec) -> None:
        self._raise_if_told()
        self._routers[spec.router_id] = spec

    def remove_router(self, router_id: str) -> None:
        self._raise_if_told()
        self._routers.pop(canonical_id(router_id), None)

    def list_routers(self) -> list[RouterState]:
        self._raise_if_told()
        return [_router_state(self._routers[r]) for r in sorted(self._routers)]


def _router_state(spec: RouterSpec) -> RouterState:
    return RouterState(
        spec.router_id,
        frozenset(i.port.port_id for i in spec.interfaces),
        spec.gateway.port.port_id if spec.gateway else None,
        frozenset(spec.floating_ips),
    )


class FakeFirewall(_Failing):
    """Port filters and address sets in dicts; a port must be plugged on ``ports`` first."""

    def __init__(self, ports: FakePorts) -> None:
        self._ports = ports
        self._filters: dict[str, PortFilter] = {}
        self._sets: dict[str, AddressSet] = {}

    def ensure_filter(self, port_filter: PortFilter) -> None:
        self._raise_if_told()
        if not self._ports.is_plugged(port_filter.port_id):
            raise TransientDriverError(f"{tap_name(port_filter.port_id)} is not plugged here")
        self._filters[port_filter.port_id] = port_filter
        self._sets.update({s.name: s for s in port_filter.address_sets})
        self._drop_unnamed_sets()

    def remove_filter(self, port_id: str) -> None:
        self._raise_if_told()
        self._filters.pop(canonical_id(port_id), None)
        self._drop_unnamed_sets()

    def ensure_address_sets(self, sets: Sequence[AddressSet]) -> None:
        self._raise_if_told()
        self._sets.update({s.name: s for s in sets if s.name in self._sets})

    def list_filters(self) -> list[FilterState]:
        self._raise_if_told()
        return [FilterState(p, self._filters[p].digest) for p in sorted(self._filters)]

    def list_address_sets(self) -> list[AddressSet]:
        self._raise_if_told()
        return [self._sets[name] for name in sorted(self._sets)]

    def _drop_unnamed_sets(self) -> None:
        named = {r.address_set for f in self._filters.values() for r in f.rules}
        self._sets = {name: s for name, s in self._sets.items() if name in named}


def fake_network_drivers(local_vtep: str, *, network_node: bool = False) -> NetworkDrivers:
    """A host's drivers in memory (the test-driver path); the network node's
    also serve DHCP and routers, and plug into the external network."""
    flat = {"external": "br-ext"} if network_node else None
    ports = FakePorts(local_vtep, flat_bridges=flat)
    if not network_node:
        return NetworkDrivers(ports, FakeFirewall(ports))
    return NetworkDrivers(ports, FakeFirewall(ports), FakeDhcp(), FakeRouters())
