"""Hypervisor driver: the port the compute worker uses, and its libvirt adapter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import libvirt

from workers.drivers.domain_interfaces import InterfaceSpec
from workers.drivers.domain_xml import REAL_DOMAIN_TYPES, domain_xml
from workers.drivers.errors import (
    DriverError,
    PermanentDriverError,
    TransientDriverError,
)
from workers.drivers.interface_attach import InterfaceAttachments, LibvirtInterfaces, interfaces_in
from workers.drivers.specs import (
    DISK_FORMATS,
    OVMF_CODE,
    OVMF_VARS,
    BackingFile,
    DiskSpec,
    DomainInfo,
    DomainSpec,
    UefiBoot,
    canonical_uuid,
    validate_spec,
)
from workers.drivers.volume_attach import DETACH_TIMEOUT_S, LibvirtVolumes, VolumeAttachments
from workers.drivers.volume_connector import QsdConnector, VolumeDisk
from workers.drivers.volume_xml import AttachedVolume

# The values a domain is made of live in workers/drivers/specs.py; they are
# named here too, where the jobs and tests have always found them.
__all__ = [
    "CLEAN_SHUTDOWN_S",
    "DISK_FORMATS",
    "OVMF_CODE",
    "OVMF_VARS",
    "BackingFile",
    "DiskSpec",
    "DomainInfo",
    "DomainSpec",
    "Hypervisor",
    "LibvirtHypervisor",
    "UefiBoot",
    "canonical_uuid",
    "validate_spec",
]

# How long a soft reboot waits for a real guest to shut down (Nova's shutdown_timeout).
CLEAN_SHUTDOWN_S = 60.0


class Hypervisor(VolumeAttachments, InterfaceAttachments, Protocol):
    """Defines, starts, stops and removes domains on one compute host, and
    attaches volumes (VolumeAttachments) and network interfaces
    (InterfaceAttachments) to them.

    Every method is idempotent: calling it again after it returned, or after
    a crash part-way through it, converges on the same end state. Domains are
    keyed by name; a domain's uuid never changes once defined.

    Every method may raise:
    - TransientDriverError when retrying later may help (connection lost,
      the domain changed state or vanished under us);
    - PermanentDriverError when it will not (invalid spec, config rejected,
      name already used by a domain with another uuid or vice versa).
    """

    def ensure_running(self, spec: DomainSpec) -> None:
        """Define the domain if it is missing, then start (or resume) it.

        A domain that is already running is left untouched, and an existing
        definition is not replaced by `spec`.
        Raises PermanentDriverError if `spec` is invalid or `spec.name` is
        defined with another uuid; TransientDriverError as described above.
        """
        ...

    def ensure_stopped(self, spec: DomainSpec) -> None:
        """Define the domain if it is missing and make sure it is not running.

        Stopping is a hard power-off (destroy), not a guest shutdown.
        Raises as ensure_running.
        """
        ...

    def ensure_absent(self, name: str) -> None:
        """Power off the domain if it runs and remove its definition.

        An unknown name is not an error. Its disks are not touched.
        Raises TransientDriverError or PermanentDriverError only if the
        domain exists and could not be removed.
        """
        ...

    def ensure_paused(self, spec: DomainSpec) -> None:
        """Make sure the domain is paused: in memory, not running (started first if off)."""
        ...

    def ensure_suspended(self, spec: DomainSpec) -> None:
        """Make sure the domain is saved to disk and off (libvirt's managed
        save, as Nova's suspend); ensure_running restores it."""
        ...

    def reboot(self, spec: DomainSpec) -> None:
        """Reboot a running domain through the guest (a soft reboot: a real
        guest is asked to shut down, powered off if it does not in time,
        and started again); one that is not running is started."""
        ...

    def state_of(self, name: str) -> str | None:
        """ "running", "paused", "suspended" or "shutoff"; None if undefined."""
        ...

    def get(self, name: str) -> DomainInfo | None:
        """Return the domain called `name`, or None if it is not defined."""
        ...

    def list_domains(self) -> list[DomainInfo]:
        """Return every domain defined on the host, sorted by name."""
        ...


# Errors where the same call may succeed later. NO_DOMAIN and
# OPERATION_INVALID here mean the domain vanished or changed state between
# our check and our action (another worker, or the guest itself).
_TRANSIENT_CODES = frozenset(
    {
        libvirt.VIR_ERR_SYSTEM_ERROR,
        libvirt.VIR_ERR_NO_CONNECT,
        libvirt.VIR_ERR_INVALID_CONN,
        libvirt.VIR_ERR_RPC,
        libvirt.VIR_ERR_OPERATION_TIMEOUT,
        libvirt.VIR_ERR_NO_DOMAIN,
        libvirt.VIR_ERR_OPERATION_INVALID,
    }
)

# Without these flags qemu refuses to undefine a domain that has a managed
# save image or snapshots; real hypervisors also drop a UEFI guest's NVRAM
# (the test driver rejects that flag, and keeps no NVRAM).
_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
)
_UNDEFINE_REAL_FLAGS = _UNDEFINE_FLAGS | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM


def _is_absent(error: libvirt.libvirtError) -> bool:
    return bool(error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN)


def _tolerate(action: Callable[[], Any], reached: Callable[[], bool]) -> None:
    """Run `action`; a failure is fine if its goal was reached anyway.

    Covers races with other workers, which the test driver reports as plain
    internal errors ("already running").
    """
    try:
        action()
    except libvirt.libvirtError:
        if not reached():
            raise


class LibvirtHypervisor:
    """Hypervisor backed by an open libvirt connection."""

    def __init__(
        self,
        conn: libvirt.virConnect,
        domain_type: str,
        clean_shutdown_s: float = CLEAN_SHUTDOWN_S,
        connector: QsdConnector | None = None,
        detach_timeout_s: float = DETACH_TIMEOUT_S,
        netns: str | None = None,
    ) -> None:
        self._conn = conn
        self._domain_type = domain_type
        self._clean_shutdown_s = clean_shutdown_s
        # How this host reaches volumes (real guests only; see volume_connector).
        self._volumes = LibvirtVolumes(domain_type, connector, detach_timeout_s)
        # The host's network namespace (hosts as namespaces, one machine):
        # guests start there, and find their taps there.
        self._netns = netns
        self._interfaces = LibvirtInterfaces(domain_type, netns)

    def ensure_running(self, spec: DomainSpec) -> None:
        validate_spec(spec)
        with self._mapped_errors():
            dom = self._ensure_defined(spec)
            if not dom.isActive():
                _tolerate(lambda: self._start(dom), lambda: bool(dom.isActive()))
            elif dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                _tolerate(dom.resume, lambda: dom.state()[0] != libvirt.VIR_DOMAIN_PAUSED)

    def ensure_stopped(self, spec: DomainSpec) -> None:
        validate_spec(spec)
        with self._mapped_errors():
            dom = self._ensure_defined(spec)
            if dom.isActive():
                _tolerate(dom.destroy, lambda: not dom.isActive())

    def ensure_paused(self, spec: DomainSpec) -> None:
        validate_spec(spec)
        with self._mapped_errors():
            dom = self._ensure_defined(spec)
            if not dom.isActive():
                _tolerate(lambda: self._start(dom), lambda: bool(dom.isActive()))
            if dom.state()[0] != libvirt.VIR_DOMAIN_PAUSED:
                _tolerate(dom.suspend, lambda: dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED)

    def ensure_suspended(self, spec: DomainSpec) -> None:
        validate_spec(spec)
        with self._mapped_errors():
            dom = self._ensure_defined(spec)
            if not dom.isActive() and not dom.hasManagedSaveImage(0):
                _tolerate(lambda: self._start(dom), lambda: bool(dom.isActive()))
            if dom.isActive():
                _tolerate(lambda: dom.managedSave(0), lambda: not dom.isActive())

    def reboot(self, spec: DomainSpec) -> None:
        validate_spec(spec)
        with self._mapped_errors():
            dom = self._ensure_defined(spec)
            if dom.isActive() and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
                if self._domain_type not in REAL_DOMAIN_TYPES:
                    dom.reboot(0)
                    return
                self._shut_down_cleanly(dom)
        self.ensure_running(spec)

    def _start(self, dom: Any) -> None:
        """Start (or restore) ``dom``. With a host namespace, from a thread
        that entered it: libvirt forks QEMU from the calling thread, so the
        guest runs in the host's namespace while this process stays in its
        own (where 127.0.0.1's database and queues are)."""
        if self._netns is None:
            dom.create()
            return
        from workers.drivers.netns import in_namespace  # pyroute2: only when used

        in_namespace(self._netns, dom.create)

    def _shut_down_cleanly(self, dom: Any) -> None:
        """Nova's soft reboot of a real guest: ask it to shut down (ACPI), wait,
        and power it off if it has not in time (a guest that ignores the
        button, as the busybox init does); the caller starts it again."""
        _tolerate(dom.shutdown, lambda: not dom.isActive())
        deadline = time.monotonic() + self._clean_shutdown_s
        while dom.isActive() and time.monotonic() < deadline:
            time.sleep(0.2)
        if dom.isActive():
            _tolerate(dom.destroy, lambda: not dom.isActive())

    def state_of(self, name: str) -> str | None:
        with self._mapped_errors():
            dom = self._lookup(name)
            if dom is None:
                return None
            if not dom.isActive():
                return "suspended" if dom.hasManagedSaveImage(0) else "shutoff"
            return "paused" if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED else "running"

    def ensure_absent(self, name: str) -> None:
        with self._mapped_errors():
            dom = self._lookup(name)
            if dom is None:
                return
            volumes = self._volumes.attached(dom)
            try:
                if dom.isActive():
                    _tolerate(dom.destroy, lambda: not dom.isActive())
                # A transient domain disappears as soon as it is destroyed.
                if dom.isPersistent():
                    real = self._domain_type in REAL_DOMAIN_TYPES
                    dom.undefineFlags(_UNDEFINE_REAL_FLAGS if real else _UNDEFINE_FLAGS)
            except libvirt.libvirtError as error:
                if not _is_absent(error):
                    raise
            self._volumes.disconnect_all(volumes)

    def ensure_volume_attached(self, name: str, disk: VolumeDisk) -> None:
        with self._mapped_errors():
            self._volumes.attach(self._defined(name), disk)

    def ensure_volume_detached(self, name: str, attachment_id: str) -> None:
        with self._mapped_errors():
            dom = self._lookup(name)
            if dom is not None:
                self._volumes.detach(dom, attachment_id)

    def attached_volumes(self, name: str) -> list[AttachedVolume]:
        with self._mapped_errors():
            dom = self._lookup(name)
            return [] if dom is None else self._volumes.attached(dom)

    def ensure_interfaces(self, name: str, interfaces: Sequence[InterfaceSpec]) -> None:
        with self._mapped_errors():
            dom = self._lookup(name)
            if dom is not None:
                self._interfaces.ensure(dom, interfaces)

    def interfaces(self, name: str) -> list[InterfaceSpec]:
        with self._mapped_errors():
            dom = self._lookup(name)
            return (
                [] if dom is None else interfaces_in(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            )

    def _defined(self, name: str) -> Any:
        dom = self._lookup(name)
        if dom is None:
            raise PermanentDriverError(f"no domain {name} on this host")
        return dom

    def get(self, name: str) -> DomainInfo | None:
        with self._mapped_errors():
            dom = self._lookup(name)
            return None if dom is None else self._info(dom)

    def list_domains(self) -> list[DomainInfo]:
        with self._mapped_errors():
            infos = [self._info(dom) for dom in self._conn.listAllDomains(0)]
        return sorted((i for i in infos if i is not None), key=lambda i: i.name)

    def _ensure_defined(self, spec: DomainSpec) -> Any:
        # A real guest's volumes must be reachable before QEMU starts.
        sockets = self._volumes.sockets_for(spec.volumes)
        dom = self._lookup(spec.name)
        if dom is None:
            return self._conn.defineXML(domain_xml(spec, self._domain_type, sockets))
        if dom.UUIDString() != canonical_uuid(spec.uuid):
            raise PermanentDriverError(f"domain {spec.name} exists with uuid {dom.UUIDString()}")
        return dom

    def _lookup(self, name: str) -> Any:
        try:
            return self._conn.lookupByName(name)
        except libvirt.libvirtError as error:
            if _is_absent(error):
                return None
            raise

    def _info(self, dom: Any) -> DomainInfo | None:
        """Describe `dom`, or return None if it was undefined meanwhile."""
        try:
            state, max_kib, _, vcpus, _ = dom.info()
            running = bool(dom.isActive()) and state != libvirt.VIR_DOMAIN_PAUSED
            name, uuid_ = str(dom.name()), str(dom.UUIDString())
            return DomainInfo(name, uuid_, running, int(vcpus), int(max_kib) // 1024)
        except libvirt.libvirtError as error:
            if _is_absent(error):
                return None
            raise

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except libvirt.libvirtError as error:
            raise self._classify(error) from error

    def _classify(self, error: libvirt.libvirtError) -> DriverError:
        code = error.get_error_code()
        message = f"libvirt error {code}: {error}"
        if code in _TRANSIENT_CODES:
            return TransientDriverError(message)
        # INTERNAL_ERROR covers both a dropped connection and plain bad
        # config; only the connection's liveness tells them apart.
        if code == libvirt.VIR_ERR_INTERNAL_ERROR and not self._alive():
            return TransientDriverError(message)
        return PermanentDriverError(message)

    def _alive(self) -> bool:
        try:
            return bool(self._conn.isAlive())
        except libvirt.libvirtError:
            return False
