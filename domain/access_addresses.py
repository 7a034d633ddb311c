"""A server's access addresses (Nova's accessIPv4 and accessIPv6): addresses
the user says the server is reached at, kept and shown as given, never
configured anywhere. Their event lives on ``AccessAddressing``, a base class
of Instance, so the ledger stores it as
``domain.access_addresses:AccessAddressing.AccessAddressesSet``."""

from __future__ import annotations

import ipaddress

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor, VmState


def access_address(value: str, version: int) -> str:
    """The address in its usual form ("" clears it); 400 unless it is an
    IPv4 (``version`` 4) or IPv6 (6) address."""
    if value == "":
        return ""
    kind = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    refused = InvalidInput(f"{value[:64]!r} is not a valid IPv{version} address")
    if "%" in value:  # a scope ("fe80::1%eth0") names an interface of some host, and takes any text
        raise refused
    try:
        return str(kind(value))
    except ValueError:
        raise refused from None


class AccessAddressing(Aggregate):
    """The access-addresses part of the Instance aggregate."""

    vm_state: VmState  # kept by Instance

    @property
    def access_ipv4(self) -> str:
        return str(self.__dict__.get("access_v4", ""))  # "" before any was set

    @property
    def access_ipv6(self) -> str:
        return str(self.__dict__.get("access_v6", ""))

    def set_access_addresses(self, ipv4: str | None, ipv6: str | None, actor: Actor) -> None:
        """Set either or both (None keeps the one there); 400 for a malformed one."""
        if self.vm_state == VmState.DELETED:
            raise InvalidTransition(f"instance {self.id}", "deleted", "update")
        v4 = self.access_ipv4 if ipv4 is None else access_address(ipv4, 4)
        v6 = self.access_ipv6 if ipv6 is None else access_address(ipv6, 6)
        if (v4, v6) != (self.access_ipv4, self.access_ipv6):
            self._access_addresses_set(v4, v6, actor)

    class AccessAddressesSet(Aggregate.Event):
        access_ipv4: str
        access_ipv6: str
        actor: Actor

    @event(AccessAddressesSet)
    def _access_addresses_set(self, access_ipv4: str, access_ipv6: str, actor: Actor) -> None:
        self.access_v4, self.access_v6 = access_ipv4, access_ipv6
