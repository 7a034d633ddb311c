"""MAC addresses of ports: chosen in the command (random under Neutron's
base), never in an event method, and unique across the cloud through a
NameClaim per MAC, made or taken in the port's save."""

from __future__ import annotations

import secrets
from uuid import UUID

from commands.network_batch import NetworkBatch, NeutronForbidden
from domain.addressing import NeutronConflict
from domain.errors import Conflict
from domain.names import NameClaim
from domain.network import Network
from domain.port import checked_mac
from domain.values import Actor

BASE_MAC = (0xFA, 0x16, 0x3E)  # Neutron's base_mac
MAC_CLAIM = "mac"


def mac_claim_id(mac: str) -> UUID:
    return NameClaim.create_id(MAC_CLAIM, "", mac)


def mac_for(
    batch: NetworkBatch, asked: str, network: Network, actor: Actor
) -> tuple[str, NameClaim | None]:
    """The port's MAC and its stored claim (None: a new one is made)."""
    if not asked:
        return _fresh_mac(batch), None
    if not network.owned_by(actor):
        raise NeutronForbidden("Only the network's owner or an admin may choose a MAC address")
    mac = checked_mac(asked)
    claim = batch.find(NameClaim, mac_claim_id(mac))
    if claim is not None and claim.holder_id:
        raise _mac_in_use(network, mac)
    if claim is None and mac_claim_id(mac) in batch.mac_claims_taken:
        raise _mac_in_use(network, mac)
    return mac, claim


def _mac_in_use(network: Network, mac: str) -> NeutronConflict:
    return NeutronConflict(
        f"Unable to complete operation for network {network.id}. The mac address {mac} is in use.",
        "MacAddressInUse",
    )


def _fresh_mac(batch: NetworkBatch) -> str:
    """A random MAC under Neutron's base that no claim has ever held: the
    candidates of a batch are checked against the ledger in one query."""
    while True:
        if not batch.mac_candidates:
            candidates = [_random_mac() for _ in range(32)]
            ids = [mac_claim_id(m) for m in candidates]
            batch.preload(ids)
            batch.mac_candidates = [
                m
                for m, i in zip(candidates, ids, strict=True)
                if batch.find(NameClaim, i) is None and i not in batch.mac_claims_taken
            ]
        if batch.mac_candidates:
            return batch.mac_candidates.pop()


def _random_mac() -> str:
    tail = secrets.token_bytes(3)
    return ":".join(f"{b:02x}" for b in (*BASE_MAC, *tail))


def claim_mac(
    batch: NetworkBatch, claim: NameClaim | None, mac: str, holder: str, actor: Actor
) -> None:
    if claim is None:
        made = NameClaim(MAC_CLAIM, "", mac, holder, actor)
        batch.add(made)
        batch.mac_claims_taken.add(made.id)
    else:
        try:
            claim.take(holder, "MAC address", actor)
        except Conflict:  # pragma: no cover - checked in _mac_for
            raise NeutronConflict(f"The mac address {mac} is in use.", "MacAddressInUse") from None
