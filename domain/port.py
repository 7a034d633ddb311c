"""The Port aggregate: a virtual NIC on a network, with its MAC and fixed
addresses, the device it is plugged into (a server, a router, DHCP), its
security groups, and where it is bound (the host whose network worker
plugs it, ``binding:host_id``). Its status is DOWN until that host reports
it plugged, then ACTIVE.

What a host's network worker acts on (issue 21): ``Created`` and
``Deleted``; ``Bound`` / ``Unbound`` (which host plugs it); ``FixedIpsChanged``
(its DHCP entry and filter); ``SecurityGroupsChanged`` and
``SecurityChanged`` (its filter); and what it reports back: ``Plugged``
(ACTIVE) and ``Unplugged`` (DOWN)."""

from __future__ import annotations

import re

from eventsourcing.domain import Aggregate, event

from domain.addressing import NeutronBadRequest, NeutronConflict
from domain.errors import InvalidInput, InvalidTransition, NotFound
from domain.network_values import COMPUTE_OWNER_PREFIX, CopiedCheaply, FixedIp
from domain.values import Actor

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
MAX_FIXED_IPS = 16  # Neutron's max_fixed_ips_per_port
HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$")


def checked_mac(value: object) -> str:
    """A unicast MAC in canonical (lower-case, colon) spelling."""
    if not isinstance(value, str) or not MAC.match(value.lower().replace("-", ":")):
        raise NeutronBadRequest(
            f"Invalid input for mac_address: '{value!s:.40}' is not a valid MAC"
        )
    mac = value.lower().replace("-", ":")
    if int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise NeutronBadRequest(f"Invalid input for mac_address: {mac} is not a unicast MAC")
    return mac


def checked_host(value: str) -> str:
    if value and not HOST_NAME.match(value):
        raise NeutronBadRequest(f"Invalid input for binding:host_id: '{value:.40}'")
    return value


class Port(CopiedCheaply, Aggregate):
    """A port and what it is plugged into."""

    class Created(Aggregate.Created):
        project_id: str
        network_id: str
        name: str
        description: str
        mac_address: str
        fixed_ips: list[FixedIp]
        device_id: str
        device_owner: str
        admin_state_up: bool
        port_security_enabled: bool
        security_group_ids: list[str]
        host: str  # binding:host_id, "" while unbound
        delete_with_device: bool  # made for a server at boot: goes with it
        actor: Actor

    @event(Created)
    def __init__(
        self,
        project_id: str,
        network_id: str,
        name: str,
        description: str,
        mac_address: str,
        fixed_ips: list[FixedIp],
        device_id: str,
        device_owner: str,
        admin_state_up: bool,
        port_security_enabled: bool,
        security_group_ids: list[str],
        host: str,
        delete_with_device: bool,
        actor: Actor,
    ) -> None:
        self.project_id, self.network_id = project_id, network_id
        self.name, self.description = name, description
        self.mac_address = mac_address
        self.fixed_ips = list(fixed_ips)
        self.device_id, self.device_owner = device_id, device_owner
        self.admin_state_up = admin_state_up
        self.port_security_enabled = port_security_enabled
        self.security_group_ids = list(security_group_ids)
        self.host = host
        self.delete_with_device = delete_with_device
        self.status = "DOWN"
        # floating IP id -> the fixed address it reaches
        self.floating_ips: dict[str, str] = {}
        self.deleted = False

    def visible_to(self, actor: Actor) -> bool:
        return not self.deleted and (actor.is_admin or self.project_id == actor.project_id)

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"Port {self.id} could not be found.")

    @property
    def on_server(self) -> bool:
        return self.device_owner.startswith(COMPUTE_OWNER_PREFIX)

    # Attributes ------------------------------------------------------------

    UPDATABLE = ("name", "description", "admin_state_up", "device_owner")

    def update(self, changes: dict[str, object], actor: Actor) -> None:
        self.require_live()
        for key in changes:
            if key not in self.UPDATABLE:
                raise InvalidInput(f"Attribute '{key}' of a port cannot be updated this way")
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changed:
            self._updated(changed, actor)

    class Updated(Aggregate.Event):
        changes: dict[str, object]
        actor: Actor

    @event(Updated)
    def _updated(self, changes: dict[str, object], actor: Actor) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def change_fixed_ips(self, fixed_ips: list[FixedIp], actor: Actor) -> None:
        """The port's whole new address list (the caller allocated the new
        ones and released the old in the same save)."""
        self.require_live()
        if len(fixed_ips) > MAX_FIXED_IPS:
            raise NeutronBadRequest(
                f"Exceeded maximum amount of fixed ips per port ({MAX_FIXED_IPS})"
            )
        if fixed_ips != self.fixed_ips:
            self._fixed_ips_changed(list(fixed_ips), actor)

    class FixedIpsChanged(Aggregate.Event):
        fixed_ips: list[FixedIp]
        actor: Actor

    @event(FixedIpsChanged)
    def _fixed_ips_changed(self, fixed_ips: list[FixedIp], actor: Actor) -> None:
        self.fixed_ips = fixed_ips

    def change_security(self, enabled: bool, group_ids: list[str], actor: Actor) -> None:
        """Port security and the groups filtering it; groups need security on."""
        self.require_live()
        if group_ids and not enabled:
            raise NeutronConflict(
                f"Port {self.id} has security groups: port security cannot be disabled",
                "PortSecurityAndIPRequiredForSecurityGroups",
            )
        if (enabled, group_ids) != (self.port_security_enabled, self.security_group_ids):
            self._security_changed(enabled, list(group_ids), actor)

    class SecurityChanged(Aggregate.Event):
        port_security_enabled: bool
        security_group_ids: list[str]
        actor: Actor

    @event(SecurityChanged)
    def _security_changed(
        self, port_security_enabled: bool, security_group_ids: list[str], actor: Actor
    ) -> None:
        self.port_security_enabled = port_security_enabled
        self.security_group_ids = security_group_ids

    # The device: a server, a router, the network's DHCP ----------------------

    def attach(self, device_id: str, device_owner: str, actor: Actor) -> None:
        """Plug into a device; a port already on another device is refused (409)."""
        self.require_live()
        if self.device_id and self.device_id != device_id:
            raise NeutronConflict(
                f"Unable to complete operation on port {self.id} for network"
                f" {self.network_id}. Port already has an attached device {self.device_id}.",
                "PortInUse",
            )
        if (self.device_id, self.device_owner) != (device_id, device_owner):
            self._attached(device_id, device_owner, actor)

    class Attached(Aggregate.Event):
        device_id: str
        device_owner: str
        actor: Actor

    @event(Attached)
    def _attached(self, device_id: str, device_owner: str, actor: Actor) -> None:
        self.device_id, self.device_owner = device_id, device_owner

    def detach(self, actor: Actor) -> None:
        """Off its device (and unbound: no host plugs it any more)."""
        self.require_live()
        if self.host:
            self._unbound(self.host, actor)
        if self.device_id or self.device_owner:
            self._detached(self.device_id, actor)

    class Detached(Aggregate.Event):
        device_id: str
        actor: Actor

    @event(Detached)
    def _detached(self, device_id: str, actor: Actor) -> None:
        self.device_id = self.device_owner = ""
        self.status = "DOWN"

    # Binding: which host plugs it, and what it says back -----------------------

    def bind(self, host: str, actor: Actor) -> None:
        """Bound to ``host`` (its server was scheduled there); rebinding moves it."""
        self.require_live()
        checked_host(host)
        if not host:
            raise InvalidInput("A port is bound to a host; unbind it instead")
        if self.host != host:
            if self.host:
                self._unbound(self.host, actor)
            self._bound(host, actor)

    class Bound(Aggregate.Event):
        host: str
        actor: Actor

    @event(Bound)
    def _bound(self, host: str, actor: Actor) -> None:
        self.host = host

    def unbind(self, actor: Actor) -> None:
        self.require_live()
        if self.host:
            self._unbound(self.host, actor)

    class Unbound(Aggregate.Event):
        host: str
        actor: Actor

    @event(Unbound)
    def _unbound(self, host: str, actor: Actor) -> None:
        self.host = ""
        self.status = "DOWN"

    def mark_plugged(self, host: str, actor: Actor) -> None:
        """The host it is bound to has plugged it: ACTIVE. A report from
        another host (an old binding) is refused."""
        self.require_live()
        if host != self.host:
            raise InvalidTransition(f"port {self.id}", f"bound to '{self.host}'", f"plug on {host}")
        if self.status != "ACTIVE":
            self._plugged(host, actor)

    class Plugged(Aggregate.Event):
        host: str
        actor: Actor

    @event(Plugged)
    def _plugged(self, host: str, actor: Actor) -> None:
        # A service port (DHCP, a router's leg) is plugged where its service
        # runs without being bound first; a bound one was bound there already.
        self.status, self.host = "ACTIVE", host

    def plug_with_spawn(self, host: str, actor: Actor) -> None:
        """Its server's host plugged it as the guest started: bound there and
        ACTIVE, in one event for a port bound nowhere yet (a boot's), or
        as a binding and a plug for one bound before (a move)."""
        self.require_live()
        checked_host(host)
        if not host:
            raise InvalidInput("A port is plugged on a host")
        if self.host or self.status == "ACTIVE":
            self.bind(host, actor)
            self.mark_plugged(host, actor)
        else:
            self._bound_and_plugged(host, actor)

    class BoundAndPlugged(Aggregate.Event):
        host: str
        actor: Actor

    @event(BoundAndPlugged)
    def _bound_and_plugged(self, host: str, actor: Actor) -> None:
        self.host, self.status = host, "ACTIVE"

    def mark_service_plugged(self, host: str, actor: Actor) -> None:
        """The network's own port (DHCP, a router's leg or gateway) is up on
        the host that runs its service, which binds it there: no host's
        network worker plugs it as it plugs a server's port."""
        self.require_live()
        if not self.device_owner.startswith("network:"):
            raise InvalidTransition(f"port {self.id}", self.device_owner, "service plug")
        if (self.status, self.host) != ("ACTIVE", host):
            self._plugged(host, actor)

    def mark_unplugged(self, host: str, actor: Actor) -> None:
        self.require_live()
        if host == self.host and self.status != "DOWN":
            self._unplugged(host, actor)

    class Unplugged(Aggregate.Event):
        host: str
        actor: Actor

    @event(Unplugged)
    def _unplugged(self, host: str, actor: Actor) -> None:
        self.status = "DOWN"

    # Floating IPs reaching it ---------------------------------------------

    def attach_floating_ip(self, floating_ip_id: str, fixed_ip: str, actor: Actor) -> None:
        """A floating IP now reaches ``fixed_ip``; each fixed address takes one."""
        self.require_live()
        if fixed_ip not in {f.ip_address for f in self.fixed_ips}:
            raise NeutronBadRequest(
                f"Port {self.id} does not have fixed ip {fixed_ip}", "FixedIpNotOnPort"
            )
        taken = [f for f, ip in self.floating_ips.items() if ip == fixed_ip and f != floating_ip_id]
        if taken:
            raise NeutronConflict(
                f"Cannot associate floating IP {floating_ip_id} with port {self.id} using fixed"
                f" IP {fixed_ip}, as that fixed IP already has a floating IP {taken[0]}.",
                "FloatingIPPortAlreadyAssociated",
            )
        if self.floating_ips.get(floating_ip_id) != fixed_ip:
            self._floating_ip_attached(floating_ip_id, fixed_ip, actor)

    class FloatingIpAttached(Aggregate.Event):
        floating_ip_id: str
        fixed_ip: str
        actor: Actor

    @event(FloatingIpAttached)
    def _floating_ip_attached(self, floating_ip_id: str, fixed_ip: str, actor: Actor) -> None:
        self.floating_ips[floating_ip_id] = fixed_ip

    def detach_floating_ip(self, floating_ip_id: str, actor: Actor) -> None:
        if floating_ip_id in self.floating_ips:
            self._floating_ip_detached(floating_ip_id, actor)

    class FloatingIpDetached(Aggregate.Event):
        floating_ip_id: str
        actor: Actor

    @event(FloatingIpDetached)
    def _floating_ip_detached(self, floating_ip_id: str, actor: Actor) -> None:
        del self.floating_ips[floating_ip_id]

    # Deletion ----------------------------------------------------------

    def delete(self, actor: Actor) -> None:
        """The caller releases its addresses, MAC, quota and group memberships
        and disassociates its floating IPs in the same save."""
        self.require_live()
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True
