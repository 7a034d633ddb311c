"""A server's network interfaces as its compute host gives them to the
guest: each of its ports plugged on that host, as the tap its network
worker made and the port's MAC, in the order the server got them (eth0,
eth1 ...). A port not plugged (yet) is left out: it is hot-plugged once
it is (workers/jobs/network_compute.py)."""

from __future__ import annotations

from uuid import UUID

from commands.loading import load_many
from domain.instance import Instance
from domain.port import Port
from workers.drivers.domain_interfaces import InterfaceSpec
from workers.drivers.network_types import tap_name
from workers.runtime import ComputeContext


def interfaces_of(host: ComputeContext, instance: Instance) -> tuple[InterfaceSpec, ...]:
    ids = [UUID(p) for p in instance.port_ids]
    if not ids:
        return ()
    ports = load_many(host.app, Port, ids)
    plugged = []
    for port_id in ids:
        port = ports.get(port_id)
        if port is not None and _plugged_here(port, host.name):
            plugged.append(InterfaceSpec(tap_name(str(port.id)), port.mac_address))
    return tuple(plugged)


def _plugged_here(port: Port, host: str) -> bool:
    return not port.deleted and port.status == "ACTIVE" and port.host == host
