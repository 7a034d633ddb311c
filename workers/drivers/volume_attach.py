"""Volume disks on libvirt domains: hot-plug into a running real guest (and
into its definition, so a restart keeps it), ACPI hot-unplug out of it, and
on libvirt's test driver, which cannot hot-plug, the definition alone.

The definition is changed by defining the domain's own inactive XML with the
disk added or removed: one path for every driver (the test driver has no
device API at all)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

import libvirt

from workers.drivers.domain_xml import REAL_DOMAIN_TYPES
from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.volume_connector import QsdConnector, VolumeDisk
from workers.drivers.volume_xml import (
    AttachedVolume,
    attached_volumes,
    disk_targets,
    volume_alias,
    volume_disk_xml,
    with_volume,
    without_volume,
)

# A guest needs a moment to answer ACPI hot-unplug (more under TCG on a busy host).
DETACH_TIMEOUT_S = 60.0


class DetachTimeout(TransientDriverError):
    """The guest did not release the disk in time (it must answer ACPI
    hot-unplug: no OS yet, no acpiphp, or it hangs). The disk stays attached
    and in the definition; the request stays pending in QEMU."""


class VolumeAttachments(Protocol):
    """The volume half of the Hypervisor port (workers/drivers/hypervisor.py),
    with the same idempotence and error rules."""

    def ensure_volume_attached(self, name: str, disk: VolumeDisk) -> None:
        """Give the domain the volume as disk `disk.target`: hot-plugged into
        a running guest (the test driver, which cannot hot-plug, and a domain
        that is off get it at their next start) and kept in its definition.

        The host logs in to the volume's target as the attachment's own
        initiator with the volume's CHAP secret, which appears in no argv,
        log or domain XML. A disk already attached is left as it is.
        Raises PermanentDriverError if the domain is not defined, the target
        device is taken by another disk, `disk` is invalid, or the target
        refuses the login (a wrong secret, no ACL entry); TransientDriverError
        if the target cannot be reached.
        """
        ...

    def ensure_volume_detached(self, name: str, attachment_id: str) -> None:
        """Take the attachment's disk out of the domain and its definition,
        then drop the host's login. A running guest must let go first (ACPI
        hot-unplug, so its kernel sees the disk go): if it does not in time,
        raises DetachTimeout (a TransientDriverError) and the disk stays.
        An unknown domain or attachment is fine.
        """
        ...

    def attached_volumes(self, name: str) -> list[AttachedVolume]:
        """The domain's volume disks (a running guest's own; else those of its
        definition), sorted by device; [] for an unknown domain."""
        ...


class LibvirtVolumes:
    """The volume half of LibvirtHypervisor, on one connection."""

    def __init__(
        self,
        domain_type: str,
        connector: QsdConnector | None,
        detach_timeout_s: float = DETACH_TIMEOUT_S,
    ) -> None:
        self._real = domain_type in REAL_DOMAIN_TYPES
        self._connector = connector
        self._detach_timeout_s = detach_timeout_s

    def sockets_for(self, disks: Iterable[VolumeDisk]) -> dict[str, str] | None:
        """Each disk's NBD socket on a real hypervisor, connected first (a
        domain about to start needs them); None on the test driver."""
        if not self._real:
            return None
        return {disk.attachment_id: self._connect(disk) for disk in disks}

    def attach(self, dom: Any, disk: VolumeDisk) -> None:
        disk.validate()
        alias = volume_alias(disk.attachment_id)
        inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        self._check_target_free(inactive, disk, alias)
        socket = None
        if self._real:
            socket = self._connect(disk)
            if dom.isActive():
                live = dom.XMLDesc(0)
                self._check_target_free(live, disk, alias)
                if alias not in disk_targets(live).values():
                    xml = volume_disk_xml(disk, socket)
                    dom.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        if alias not in disk_targets(inactive).values():
            dom.connect().defineXML(with_volume(inactive, disk, socket))

    def detach(self, dom: Any, attachment_id: str) -> None:
        alias = volume_alias(attachment_id)
        if self._real and dom.isActive() and alias in disk_targets(dom.XMLDesc(0)).values():
            self._unplug(dom, alias)
        inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        if alias in disk_targets(inactive).values():
            dom.connect().defineXML(without_volume(inactive, attachment_id))
        if self._connector is not None:
            self._connector.ensure_disconnected(attachment_id)

    def attached(self, dom: Any) -> list[AttachedVolume]:
        """The volumes the guest has now (a running real guest's live disks;
        else the definition's)."""
        live = self._real and dom.isActive()
        return attached_volumes(dom.XMLDesc(0 if live else libvirt.VIR_DOMAIN_XML_INACTIVE))

    def disconnect_all(self, volumes: Iterable[AttachedVolume]) -> None:
        """Drop this host's connections of a domain that is gone."""
        if self._connector is not None:
            for volume in volumes:
                self._connector.ensure_disconnected(volume.attachment_id)

    def _unplug(self, dom: Any, alias: str) -> None:
        """Ask the guest to let go (ACPI), and wait until QEMU says it has.
        DetachDeviceAlias only sends the request; libvirt drops the disk from
        the live XML when QEMU reports DEVICE_DELETED."""
        dom.detachDeviceAlias(alias, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        deadline = time.monotonic() + self._detach_timeout_s
        while time.monotonic() < deadline:
            live = disk_targets(dom.XMLDesc(0))
            if alias not in live.values():
                return
            time.sleep(0.05)
        target = next((t for t, a in disk_targets(dom.XMLDesc(0)).items() if a == alias), "?")
        raise DetachTimeout(
            f"the guest of {dom.name()} did not release {target} within "
            f"{self._detach_timeout_s:g} s (no answer to ACPI hot-unplug)"
        )

    def _connect(self, disk: VolumeDisk) -> str:
        if self._connector is None:
            raise PermanentDriverError("this compute host has no volume connector configured")
        return self._connector.ensure_connected(disk)

    @staticmethod
    def _check_target_free(xml: str, disk: VolumeDisk, alias: str) -> None:
        holder = disk_targets(xml).get(disk.target)
        if holder is not None and holder != alias:
            raise PermanentDriverError(f"{disk.target} is taken by another disk")
        for target, other in disk_targets(xml).items():
            if other == alias and target != disk.target:
                raise PermanentDriverError(f"attachment {disk.attachment_id} is {target} already")
