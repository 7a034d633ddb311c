"""MAC addresses of ports: chosen in the command (random under Neutron's
base), never in an event method, and unique on their network, as Neutron
has them. The network's port list holds each port's MAC, and every port
made changes that list in its own save, so two saves racing to give one
MAC to two ports of a network conflict (domain/network.py).

Ports made before the network held MACs kept theirs in a NameClaim, one
per MAC across the cloud. On a network that ever listed such a port
(``Network.may_hold_mac_claims``), a claim held keeps its MAC from new
ports; it is given back when its port goes (network_port_changes.py).
Other networks need not read claims at all."""

from __future__ import annotations

import secrets
from uuid import UUID

from commands.network_batch import NetworkBatch, NeutronForbidden
from domain.addressing import NeutronConflict
from domain.names import NameClaim
from domain.network import Network
from domain.port import checked_mac
from domain.values import Actor

BASE_MAC = (0xFA, 0x16, 0x3E)  # Neutron's base_mac
MAC_CLAIM = "mac"


def mac_claim_id(mac: str) -> UUID:
    return NameClaim.create_id(MAC_CLAIM, "", mac)


def mac_for(batch: NetworkBatch, asked: str, network: Network, actor: Actor) -> str:
    """The port's MAC: the one asked for if free on the network, else a random one."""
    if not asked:
        return _fresh_mac(batch, network)
    if not network.owned_by(actor):
        raise NeutronForbidden("Only the network's owner or an admin may choose a MAC address")
    mac = checked_mac(asked)
    older = network.may_hold_mac_claims()
    if mac in batch.macs_taken(network) or (older and _claimed(batch, mac)):
        raise NeutronConflict(
            f"Unable to complete operation for network {network.id}."
            f" The mac address {mac} is in use.",
            "MacAddressInUse",
        )
    return mac


def _claimed(batch: NetworkBatch, mac: str) -> bool:
    """Whether an older port's claim holds the MAC (asked only on a network
    with such ports: elsewhere no claim is read)."""
    claim = batch.find(NameClaim, mac_claim_id(mac))
    return claim is not None and bool(claim.holder_id)


def _fresh_mac(batch: NetworkBatch, network: Network) -> str:
    """A random MAC under Neutron's base that is free on the network (and
    that no older port's claim holds, on a network with such ports: a
    batch's candidates are checked against the claims in one query)."""
    taken = batch.macs_taken(network)
    older = network.may_hold_mac_claims()
    while True:
        candidates = [_random_mac() for _ in range(8)]
        if older:
            batch.preload([mac_claim_id(m) for m in candidates])
        for mac in candidates:
            if mac not in taken and not (older and _claimed(batch, mac)):
                return mac


def _random_mac() -> str:
    tail = secrets.token_bytes(3)
    return ":".join(f"{b:02x}" for b in (*BASE_MAC, *tail))
