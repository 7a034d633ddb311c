"""A compute host's network jobs, on the harness (workers/harness.py):

- plug the ports bound to this host (the network's bridge and segment,
  the port's tap, its security filter), record them ACTIVE in one save,
  and tell each server being built here once all its ports are; a port
  that cannot be plugged puts its server being built in ERROR;
- unplug ports unbound from this host or deleted (filter, then tap; the
  network's bridge goes with its last port here);
- refresh the filter of ports bound here when their addresses, groups or
  their groups' rules change (changes reach running ports);
- refill this host's address sets when a remote group's members change
  (one set per group and ethertype, as Neutron's ipsets: a member joining
  changes no other port's rules).

The network's own ports (DHCP, routers) are the network node's."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from uuid import UUID

from commands import network_host
from commands.app import CloudApp
from commands.compute import fail_instance
from commands.loading import load_many
from domain.network import Network
from domain.port import Port
from domain.security_group import SecurityGroup
from domain.values import TaskState
from workers.drivers.network_specs import AddressSet
from workers.harness import Outcomes, Step, all_of, run_step
from workers.jobs.network_bindings import Ledger, binding_of, filter_of
from workers.jobs.network_context import NetworkContext

log = logging.getLogger(__name__)

PLUG_FAILED = "Failed to plug the server's network ports."


def plugs_here(port: Port, host: NetworkContext) -> bool:
    """A live port of a server (or a user) bound to this host."""
    owner = port.device_owner
    return not port.deleted and port.host == host.name and not owner.startswith("network:")


def plug(host: NetworkContext, ledger: Ledger, port: Port) -> None:
    """The port's tap on its network's bridge, then its filter (none with port security off)."""
    network = ledger.must(Network, port.network_id)
    host.drivers.ports.ensure_port(binding_of(port, network, host.vteps))
    apply_filter(host, ledger, port)


def apply_filter(host: NetworkContext, ledger: Ledger, port: Port) -> None:
    found = filter_of(port, ledger)
    if found is None:
        host.drivers.firewall.remove_filter(str(port.id))
    else:
        host.drivers.firewall.ensure_filter(found)


def unplug(host: NetworkContext, port_id: str) -> None:
    """Filter first, so the tap never passes unfiltered traffic; then the tap."""
    host.drivers.firewall.remove_filter(port_id)
    host.drivers.ports.remove_port(port_id)


def _fail_plug(app: CloudApp, port_id: UUID, message: str, details: str) -> None:
    """A port the host cannot plug: the server being built on it goes to
    ERROR, its quota and claim given back; any other port stays DOWN."""
    port = load_many(app, Port, [port_id]).get(port_id)
    if port is None or not port.on_server:
        return
    try:
        server = UUID(port.device_id)
    except ValueError:
        return
    log.warning("port %s could not be plugged on %s: %s %s", port_id, port.host, message, details)
    fail_instance(
        app,
        server,
        PLUG_FAILED,
        only_while=TaskState.SPAWNING,
        details=f"port {port.id} on {port.host}: {message} {details}".strip(),
    )


def plug_ports(host: NetworkContext, ids: Sequence[UUID]) -> Outcomes:
    ledger = Ledger(host.app)  # networks and groups, read once per batch

    def record(context: NetworkContext, ports: Sequence[Port]) -> Collection[UUID]:
        return network_host.record_plugged(context.app, context.name, [p.id for p in ports])

    step: Step[NetworkContext, Port] = Step(
        Port,
        lambda port, context: plugs_here(port, context) and port.status != "ACTIVE",
        lambda context, port: plug(context, ledger, port),
        record,
        "plugged",
        what="Plug",
        fault=_fail_plug,
        undo=lambda context, port: unplug(context, str(port.id)),
        undo_superseded=True,  # unbound or deleted while it was plugged: no tap left
    )
    return run_step(step, host, ids)


def unplug_ports(host: NetworkContext, ids: Sequence[UUID]) -> Outcomes:
    """Ports this host must no longer have: unbound from it, or deleted."""
    step: Step[NetworkContext, Port] = Step(
        Port,
        lambda port, context: not plugs_here(port, context),
        lambda context, port: unplug(context, str(port.id)),
        all_of,
        "unplugged",
    )
    return run_step(step, host, ids)


def refilter_ports(host: NetworkContext, ids: Sequence[UUID]) -> Outcomes:
    """The filters of ports plugged here, as their groups say now (a port
    not plugged yet gets its filter when it is)."""
    ledger = Ledger(host.app)  # networks and groups, read once per batch
    step: Step[NetworkContext, Port] = Step(
        Port,
        lambda port, context: plugs_here(port, context) and port.status == "ACTIVE",
        lambda context, port: apply_filter(context, ledger, port),
        all_of,
        "filtered",
    )
    return run_step(step, host, ids)


def refresh_address_sets(host: NetworkContext, ids: Sequence[UUID]) -> Outcomes:
    """A group's members changed (``ids``: the groups, once per host): every
    address set this host has is refilled from its group as the ledger has
    it now, in one step. No port is loaded and no port's rules change, so a
    member joining costs each host one set, not a filter per member."""
    refresh_sets(host, Ledger(host.app))
    return {str(i): "filtered" for i in ids}


def refresh_sets(host: NetworkContext, ledger: Ledger) -> list[AddressSet]:
    """Refill the host's address sets that differ from the ledger's; returns them."""
    firewall = host.drivers.firewall
    present = firewall.list_address_sets()
    ledger.preload(SecurityGroup, {s.group_id for s in present})
    changed = [
        wanted
        for wanted, found in (
            (ledger.address_set(ledger.find(SecurityGroup, s.group_id), s.group_id, s.ethertype), s)
            for s in present
        )
        if wanted != found
    ]
    if changed:
        firewall.ensure_address_sets(changed)
    return changed
