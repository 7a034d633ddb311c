"""In-memory Hypervisor for tests of jobs that drive compute hosts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from workers.drivers.domain_interfaces import InterfaceSpec, validate_interfaces
from workers.drivers.errors import DriverError, PermanentDriverError
from workers.drivers.hypervisor import (
    DomainInfo,
    DomainSpec,
    canonical_uuid,
    validate_spec,
)
from workers.drivers.volume_attach import DetachTimeout
from workers.drivers.volume_connector import VolumeDisk
from workers.drivers.volume_xml import AttachedVolume


@dataclass
class _Domain:
    spec: DomainSpec
    uuid: str
    state: str  # "running", "paused", "suspended" or "shutoff"
    reboots: int = 0
    volumes: dict[str, VolumeDisk] = field(default_factory=dict)  # by attachment id

    @property
    def running(self) -> bool:
        return self.state == "running"


class FakeHypervisor:
    """Hypervisor keeping domains in a dict; can be told to fail the next call."""

    def __init__(self) -> None:
        self._domains: dict[str, _Domain] = {}
        self._next_error: DriverError | None = None
        # False: guests ignore ACPI hot-unplug, as one with no OS yet does.
        self.guests_release_disks = True

    def fail_next(self, error: DriverError) -> None:
        """Make the next call of any Hypervisor method raise `error`, once."""
        self._next_error = error

    def defined_spec(self, name: str) -> DomainSpec | None:
        """Return the spec `name` was defined with (for assertions in tests)."""
        domain = self._domains.get(name)
        return None if domain is None else domain.spec

    def reboots(self, name: str) -> int:
        """How often `name` was rebooted softly (for assertions in tests)."""
        return self._domains[name].reboots

    def ensure_running(self, spec: DomainSpec) -> None:
        self._raise_if_told()
        self._ensure_defined(spec).state = "running"

    def ensure_stopped(self, spec: DomainSpec) -> None:
        self._raise_if_told()
        self._ensure_defined(spec).state = "shutoff"

    def ensure_paused(self, spec: DomainSpec) -> None:
        self._raise_if_told()
        self._ensure_defined(spec).state = "paused"

    def ensure_suspended(self, spec: DomainSpec) -> None:
        self._raise_if_told()
        self._ensure_defined(spec).state = "suspended"

    def reboot(self, spec: DomainSpec) -> None:
        self._raise_if_told()
        domain = self._ensure_defined(spec)
        if domain.running:
            domain.reboots += 1
        domain.state = "running"

    def state_of(self, name: str) -> str | None:
        self._raise_if_told()
        domain = self._domains.get(name)
        return None if domain is None else domain.state

    def ensure_absent(self, name: str) -> None:
        self._raise_if_told()
        self._domains.pop(name, None)

    def get(self, name: str) -> DomainInfo | None:
        self._raise_if_told()
        domain = self._domains.get(name)
        return None if domain is None else _info(domain)

    def list_domains(self) -> list[DomainInfo]:
        self._raise_if_told()
        return [_info(self._domains[name]) for name in sorted(self._domains)]

    def ensure_volume_attached(self, name: str, disk: VolumeDisk) -> None:
        self._raise_if_told()
        disk.validate()
        domain = self._domains.get(name)
        if domain is None:
            raise PermanentDriverError(f"no domain {name} on this host")
        holders = {d.target: d.attachment_id for d in domain.volumes.values()}
        holders.update({d.target: "" for d in domain.spec.disks})
        if holders.get(disk.target, disk.attachment_id) != disk.attachment_id:
            raise PermanentDriverError(f"{disk.target} is taken by another disk")
        known = domain.volumes.get(disk.attachment_id)
        if known is not None and known.target != disk.target:
            raise PermanentDriverError(f"attachment {disk.attachment_id} is {known.target} already")
        domain.volumes[disk.attachment_id] = disk

    def ensure_volume_detached(self, name: str, attachment_id: str) -> None:
        self._raise_if_told()
        domain = self._domains.get(name)
        if domain is None or attachment_id not in domain.volumes:
            return
        if domain.running and not self.guests_release_disks:
            target = domain.volumes[attachment_id].target
            raise DetachTimeout(f"the guest of {name} did not release {target}")
        del domain.volumes[attachment_id]

    def attached_volumes(self, name: str) -> list[AttachedVolume]:
        self._raise_if_told()
        domain = self._domains.get(name)
        if domain is None:
            return []
        found = [AttachedVolume(a, d.target) for a, d in domain.volumes.items()]
        return sorted(found, key=lambda a: (len(a.target), a.target))

    def ensure_interfaces(self, name: str, interfaces: Sequence[InterfaceSpec]) -> None:
        self._raise_if_told()
        validate_interfaces(name, interfaces)
        domain = self._domains.get(name)
        if domain is not None:
            domain.spec = replace(domain.spec, interfaces=tuple(interfaces))

    def interfaces(self, name: str) -> list[InterfaceSpec]:
        self._raise_if_told()
        domain = self._domains.get(name)
        return [] if domain is None else list(domain.spec.interfaces)

    def _ensure_defined(self, spec: DomainSpec) -> _Domain:
        validate_spec(spec)
        wanted = canonical_uuid(spec.uuid)
        domain = self._domains.get(spec.name)
        if domain is not None:
            if domain.uuid != wanted:
                raise PermanentDriverError(f"domain {spec.name} exists with uuid {domain.uuid}")
            return domain
        if any(other.uuid == wanted for other in self._domains.values()):
            raise PermanentDriverError(f"uuid {wanted} is used by another domain")
        domain = self._domains[spec.name] = _Domain(spec, wanted, state="shutoff")
        domain.volumes = {v.attachment_id: v for v in spec.volumes}
        return domain

    def _raise_if_told(self) -> None:
        error, self._next_error = self._next_error, None
        if error is not None:
            raise error


def _info(domain: _Domain) -> DomainInfo:
    return DomainInfo(
        name=domain.spec.name,
        uuid=domain.uuid,
        running=domain.running,
        vcpus=domain.spec.vcpus,
        memory_mb=domain.spec.memory_mb,
    )
