"""The Network aggregate: a layer-2 segment of a project (or shared, or the
cloud's external network), which knows its subnets and its ports, so that
deleting it while ports hang on it conflicts with their creation; and the
SegmentPool that hands each network a VXLAN VNI (or VLAN id) once."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.addressing import NeutronBadRequest, NeutronConflict
from domain.errors import InvalidInput, NotFound
from domain.network_values import NETWORK_OWNED, CopiedCheaply, Segment
from domain.values import Actor, natural_id, require_text

NETWORK_TYPES = ("vxlan", "vlan", "flat")
VXLAN_VNI_RANGE = (1, 2**24 - 1)
VLAN_ID_RANGE = (1, 4094)
DEFAULT_MTU = 1450  # 1500 less VXLAN's 50 bytes; the underlay carries 1600 here
MAX_NAME = 255


def require_name(value: object, what: str, allow_empty: bool = True) -> str:
    """A resource's name or description: a string Neutron would store."""
    if not isinstance(value, str):
        raise NeutronBadRequest(f"Invalid input for {what}: '{value!s:.40}' is not a valid string")
    require_text(value, what, MAX_NAME, allow_empty=allow_empty)
    return value


class Network(CopiedCheaply, Aggregate):
    """A network: its attributes, subnets and ports."""

    class Created(Aggregate.Created):
        project_id: str
        name: str
        description: str
        admin_state_up: bool
        shared: bool
        external: bool
        segment: Segment
        mtu: int
        port_security_enabled: bool
        actor: Actor

    @event(Created)
    def __init__(
        self,
        project_id: str,
        name: str,
        description: str,
        admin_state_up: bool,
        shared: bool,
        external: bool,
        segment: Segment,
        mtu: int,
        port_security_enabled: bool,
        actor: Actor,
    ) -> None:
        self.project_id, self.name, self.description = project_id, name, description
        self.admin_state_up, self.shared, self.external = admin_state_up, shared, external
        self.segment, self.mtu = segment, mtu
        self.port_security_enabled = port_security_enabled
        self.subnet_ids: list[str] = []
        # port id -> (device owner, project): owners say which ports keep it
        # in use, projects whether other tenants use a shared network
        self.ports: dict[str, list[str]] = {}  # lists, as snapshots store them
        # Whether a port was ever listed here without its MAC (before
        # networks held MACs): such a port's MAC is held by a NameClaim.
        self.listed_ports_without_macs = False
        self.deleted = False

    def visible_to(self, actor: Actor) -> bool:
        """Its project, admins, and everyone for a shared or external network."""
        return not self.deleted and (
            actor.is_admin or self.project_id == actor.project_id or self.shared or self.external
        )

    def owned_by(self, actor: Actor) -> bool:
        """May change it (or choose addresses and MACs on it): its project or admins."""
        return not self.deleted and (actor.is_admin or self.project_id == actor.project_id)

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"Network {self.id} could not be found.")

    # Changes ---------------------------------------------------------------

    UPDATABLE = ("name", "description", "admin_state_up", "shared", "external",
                 "port_security_enabled", "mtu")  # fmt: skip

    def update(self, changes: dict[str, object], actor: Actor) -> None:
        """Change attributes; unknown keys are refused, equal values dropped."""
        self.require_live()
        for key in changes:
            if key not in self.UPDATABLE:
                raise InvalidInput(f"Attribute '{key}' of a network cannot be updated")
        if changes.get("shared") is False and self.shared and self._others_have_ports():
            raise NeutronConflict(
                f"Unable to reconfigure sharing settings for network {self.id}."
                " Multiple tenants are using it.",
                "InvalidSharedSetting",
            )
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changed:
            self._updated(changed, actor)

    def _others_have_ports(self) -> bool:
        return any(entry[1] not in ("", self.project_id) for entry in self.ports.values())

    class Updated(Aggregate.Event):
        changes: dict[str, object]
        actor: Actor

    @event(Updated)
    def _updated(self, changes: dict[str, object], actor: Actor) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    # Subnets and ports ----------------------------------------------------

    def add_subnet(self, subnet_id: str, actor: Actor) -> None:
        self.require_live()
        if subnet_id not in self.subnet_ids:
            self._subnet_added(subnet_id, actor)

    class SubnetAdded(Aggregate.Event):
        subnet_id: str
        actor: Actor

    @event(SubnetAdded)
    def _subnet_added(self, subnet_id: str, actor: Actor) -> None:
        self.subnet_ids.append(subnet_id)

    def remove_subnet(self, subnet_id: str, actor: Actor) -> None:
        if subnet_id in self.subnet_ids:
            self._subnet_removed(subnet_id, actor)

    class SubnetRemoved(Aggregate.Event):
        subnet_id: str
        actor: Actor

    @event(SubnetRemoved)
    def _subnet_removed(self, subnet_id: str, actor: Actor) -> None:
        self.subnet_ids.remove(subnet_id)

    def add_ports(self, ports: dict[str, tuple[str, str, str]], actor: Actor) -> None:
        """Ports (id -> device owner, project, MAC) now on the network, or
        whose owner changed; one event for a batch. Each port made changes
        this list in its own save, so two saves racing to give one MAC to
        two ports of the network conflict: MACs are unique per network."""
        self.require_live()
        new = {p: list(entry) for p, entry in ports.items() if self.ports.get(p) != list(entry)}
        if new:
            self._ports_added(new, actor)

    def macs_in_use(self) -> set[str]:
        """The MACs of its ports (those listed before MACs were, held by a
        NameClaim each, are not here: commands/network_macs.py)."""
        return {entry[2] for entry in self.ports.values() if len(entry) > 2}

    def may_hold_mac_claims(self) -> bool:
        """Whether a port of this network may hold a claim on its MAC (to
        honour, and give back when it goes): only if one was ever listed
        without its MAC. A flag, not a scan of the port list on every port
        made; a snapshot from before it was recorded cannot say: it may."""
        return bool(self.__dict__.get("listed_ports_without_macs", True))

    class PortsAdded(Aggregate.Event):
        # id -> [device owner, project, MAC]; [device owner, project] in
        # events stored before the network held its ports' MACs.
        ports: dict[str, list[str]]
        actor: Actor

    @event(PortsAdded)
    def _ports_added(self, ports: dict[str, list[str]], actor: Actor) -> None:
        self.ports.update(ports)
        if any(len(entry) < 3 for entry in ports.values()):
            self.listed_ports_without_macs = True

    def remove_ports(self, port_ids: list[str], actor: Actor) -> None:
        gone = [p for p in port_ids if p in self.ports]
        if gone:
            self._ports_removed(gone, actor)

    class PortsRemoved(Aggregate.Event):
        port_ids: list[str]
        actor: Actor

    @event(PortsRemoved)
    def _ports_removed(self, port_ids: list[str], actor: Actor) -> None:
        for port_id in port_ids:
            del self.ports[port_id]

    # Deletion ----------------------------------------------------------

    def ports_in_use(self) -> list[str]:
        """Ports that keep the network from going (all but its own DHCP ports)."""
        return [p for p, entry in self.ports.items() if entry[0] not in NETWORK_OWNED]

    def check_deletable(self) -> None:
        """409 NetworkInUse while a port other than the network's own is on it."""
        self.require_live()
        if self.ports_in_use():
            raise NeutronConflict(
                f"Unable to complete operation on network {self.id}. There are one or more"
                " ports still in use on the network.",
                "NetworkInUse",
            )

    def delete(self, actor: Actor) -> None:
        """The caller deletes its subnets and own ports in the same save."""
        self.check_deletable()
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True


class SegmentPool(Aggregate):
    """The segmentation ids of one kind of segment (VXLAN, or VLAN or flat on
    one physical network): each held by one network at a time."""

    class Created(Aggregate.Created):
        network_type: str
        physical_network: str
        actor: Actor

    @staticmethod
    def create_id(network_type: str, physical_network: str, **_: object) -> UUID:
        return natural_id("segment-pool", f"{network_type}/{physical_network}")

    @event(Created)
    def __init__(self, network_type: str, physical_network: str, actor: Actor) -> None:
        self.network_type, self.physical_network = network_type, physical_network
        self.held: dict[str, str] = {}  # segmentation id (text: JSON keys) -> network id
        self.last = 0  # where the next search starts, so a freed id is not reused at once

    def bounds(self) -> tuple[int, int]:
        if self.network_type == "vxlan":
            return VXLAN_VNI_RANGE
        if self.network_type == "vlan":
            return VLAN_ID_RANGE
        return (0, 0)  # flat: the physical network itself, once

    def choose(self) -> int:
        """The next free id after the last one taken (wrapping around)."""
        low, high = self.bounds()
        size = high - low + 1
        if len(self.held) >= size:
            raise NeutronConflict(
                f"Unable to create the network. No {self.network_type} segment is available"
                f"{' on ' + self.physical_network if self.physical_network else ''}.",
                "NoNetworkAvailable",
            )
        candidate = self.last
        for _ in range(len(self.held) + 1):
            candidate = low + (candidate + 1 - low) % size
            if str(candidate) not in self.held:
                return candidate
        raise AssertionError("a free id exists but was not found")  # pragma: no cover

    def take(self, segmentation_id: int, network_id: str, actor: Actor) -> None:
        low, high = self.bounds()
        if not low <= segmentation_id <= high:
            raise NeutronBadRequest(
                f"Invalid input for provider:segmentation_id: {segmentation_id} is not in"
                f" {low}-{high}",
                "InvalidInput",
            )
        holder = self.held.get(str(segmentation_id))
        if holder is not None and holder != network_id:
            kind, physical = self.network_type, self.physical_network
            where = f" on physical network {physical}" if physical else ""
            raise NeutronConflict(
                f"Unable to create the {kind} network. The segmentation id {segmentation_id}"
                f"{where} is in use.",
                "SegmentationIdInUse" if kind != "flat" else "FlatNetworkInUse",
            )
        if holder is None:
            self._taken(segmentation_id, network_id, actor)

    class Taken(Aggregate.Event):
        segmentation_id: int
        network_id: str
        actor: Actor

    @event(Taken)
    def _taken(self, segmentation_id: int, network_id: str, actor: Actor) -> None:
        self.held[str(segmentation_id)] = network_id
        self.last = segmentation_id

    def release(self, segmentation_id: int, network_id: str, actor: Actor) -> None:
        if self.held.get(str(segmentation_id)) == network_id:
            self._released(segmentation_id, network_id, actor)

    class Released(Aggregate.Event):
        segmentation_id: int
        network_id: str
        actor: Actor

    @event(Released)
    def _released(self, segmentation_id: int, network_id: str, actor: Actor) -> None:
        del self.held[str(segmentation_id)]
