"""Host selection as Nova's filter scheduler does it, as pure functions: a
configurable list of filters, then weighers. The claim on the ComputeHost
aggregate stays the truth; this only decides where to try first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from domain.errors import InvalidInput
from domain.values import FlavorSnapshot

# What hosts run guests under: QEMU (libvirt's test driver stands in for it).
HOST_HYPERVISOR_TYPES = frozenset({"qemu"})


@dataclass(frozen=True)
class HostCandidate:
    """What the scheduler knows of a host: its free room under its ratios."""

    name: str
    enabled: bool
    free_vcpus: float
    free_ram_mb: float
    free_disk_gb: float
    zone: str = "nova"
    up: bool = True  # not forced down, and its worker beats
    architecture: str = "x86_64"
    hypervisor_types: frozenset[str] = HOST_HYPERVISOR_TYPES


@dataclass(frozen=True)
class RequestSpec:
    """What one placement asks for."""

    flavor: FlavorSnapshot
    zone: str = ""  # "" for any
    image_properties: Mapping[str, str] = field(default_factory=dict)
    group_policy: str = ""  # the server group's, "" for none
    group_allows: Callable[[str], bool] = lambda host: True
    group_prefers: Callable[[str], bool] = lambda host: False


def disk_needed(flavor: FlavorSnapshot) -> int:
    """Local disk an instance takes: root + ephemeral + swap, in GiB (rounded up)."""
    return flavor.disk_gb + flavor.ephemeral_gb + -(-flavor.swap_mb // 1024)


def _image_fits(host: HostCandidate, spec: RequestSpec) -> bool:
    """hw_architecture and hypervisor_type (or img_hv_type), when the image sets them."""
    props = spec.image_properties
    arch = props.get("hw_architecture") or props.get("architecture")
    hv_type = props.get("img_hv_type") or props.get("hypervisor_type")
    if arch and canonical_arch(arch) != canonical_arch(host.architecture):
        return False
    return not hv_type or hv_type.lower() in host.hypervisor_types


def canonical_arch(name: str) -> str:
    name = name.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(name, name)


Filter = Callable[[HostCandidate, RequestSpec], bool]

FILTERS: dict[str, Filter] = {
    "ComputeFilter": lambda h, r: h.enabled and h.up,
    "AvailabilityZoneFilter": lambda h, r: not r.zone or h.zone == r.zone,
    "RamFilter": lambda h, r: h.free_ram_mb >= r.flavor.ram_mb,
    "CoreFilter": lambda h, r: h.free_vcpus >= r.flavor.vcpus,
    "DiskFilter": lambda h, r: h.free_disk_gb >= disk_needed(r.flavor),
    "ImagePropertiesFilter": _image_fits,
    "ServerGroupAffinityFilter": (
        lambda h, r: r.group_policy != "affinity" or r.group_allows(h.name)
    ),
    "ServerGroupAntiAffinityFilter": (
        lambda h, r: r.group_policy != "anti-affinity" or r.group_allows(h.name)
    ),
}
DEFAULT_FILTERS = tuple(FILTERS)


@dataclass(frozen=True)
class SchedulerConfig:
    """Which filters run (CLOUDLEDGER_SCHEDULER_FILTERS), and how free RAM
    weighs (CLOUDLEDGER_RAM_WEIGHT_MULTIPLIER: positive spreads, negative stacks)."""

    filters: tuple[str, ...] = DEFAULT_FILTERS
    ram_weight_multiplier: float = 1.0

    def __post_init__(self) -> None:
        unknown = [name for name in self.filters if name not in FILTERS]
        if unknown:
            raise InvalidInput(
                f"Unknown scheduler filter(s) {', '.join(unknown)}; known: {', '.join(FILTERS)}"
            )

    @classmethod
    def from_settings(cls, filters: str, ram_weight_multiplier: str) -> SchedulerConfig:
        names = tuple(n.strip() for n in filters.split(",") if n.strip())
        try:
            multiplier = float(ram_weight_multiplier)
        except ValueError:
            raise InvalidInput(
                f"The RAM weight multiplier must be a number, not {ram_weight_multiplier!r}"
            ) from None
        return cls(names or DEFAULT_FILTERS, multiplier)

    def rank(self, hosts: list[HostCandidate], spec: RequestSpec) -> list[str]:
        """Names of the hosts that pass every filter, best first: a soft
        group policy's preferred hosts, then by free RAM times the
        multiplier; the name breaks ties, so the order is stable."""
        checks = [FILTERS[name] for name in self.filters]
        passing = [h for h in hosts if all(check(h, spec) for check in checks)]
        passing.sort(
            key=lambda h: (
                not spec.group_prefers(h.name),
                -self.ram_weight_multiplier * h.free_ram_mb,
                h.name,
            )
        )
        return [h.name for h in passing]


def rank_hosts(hosts: list[HostCandidate], flavor: FlavorSnapshot) -> list[str]:
    """The default filters and weighers for a flavor alone."""
    return SchedulerConfig().rank(hosts, RequestSpec(flavor))
