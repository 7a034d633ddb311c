"""The Instance (resize and tags included) on the domain side: its
aggregate, how the audit trail names it, what it meters (as
os-simple-tenant-usage splits it: projections/usage.py) and its quota keys."""

from __future__ import annotations

from collections.abc import Sequence

from domain.declarations import AuditType, DomainResource, Metering
from domain.instance import Instance
from domain.instance_ports import Interfacing
from domain.meter_changes import (
    SECONDS_PER_HOUR,
    Began,
    Ended,
    Meter,
    MeterChange,
    Opened,
    Redescribed,
    flavor_quantities,
    resource_id,
)
from domain.power import POWER_ACTIONS
from domain.resize import Resizing


def _requested(e: Instance.Requested) -> Sequence[MeterChange]:
    quantities = flavor_quantities(e.flavor)
    return (Opened(resource_id(e), "instance", e.project_id, e.name, e.flavor.name, quantities),)


def _renamed(e: Instance.Updated) -> Sequence[MeterChange]:
    return (Redescribed(resource_id(e), name=e.name),)


def _spawned(e: Instance.Spawned) -> Sequence[MeterChange]:
    return (Began(resource_id(e), "active", e.launched_at),)


def _stopped(e: Instance.Stopped) -> Sequence[MeterChange]:
    return (Began(resource_id(e), "stopped", e.timestamp),)


def _started(e: Instance.Started) -> Sequence[MeterChange]:
    return (Began(resource_id(e), "active", e.timestamp),)


def _powered(e: Instance.PowerActionDone) -> Sequence[MeterChange]:
    return (Began(resource_id(e), POWER_ACTIONS[e.action].ends_in.value, e.timestamp),)


def _failed(e: Instance.Failed) -> Sequence[MeterChange]:
    return (Began(resource_id(e), "error", e.timestamp, only_if_open=True),)


def _deleted(e: Instance.Deleted) -> Sequence[MeterChange]:
    return (Ended(resource_id(e), e.timestamp),)


# A resize meters the new flavor from the moment the destination runs it,
# and a revert the old one again from its end.


def _resized(e: Resizing.ResizeFinished) -> Sequence[MeterChange]:
    quantities = flavor_quantities(e.flavor)
    new = Redescribed(resource_id(e), product=e.flavor.name, quantities=quantities)
    return (new, Began(resource_id(e), "resized", e.timestamp))


def _confirmed(e: Resizing.ResizeConfirmed) -> Sequence[MeterChange]:
    return (Began(resource_id(e), "active" if e.running else "stopped", e.timestamp),)


def _reverted(e: Resizing.ResizeReverted) -> Sequence[MeterChange]:
    quantities = flavor_quantities(e.flavor)
    old = Redescribed(resource_id(e), product=e.flavor.name, quantities=quantities)
    return (old, Began(resource_id(e), "active" if e.running else "stopped", e.timestamp))


RESOURCE = DomainResource(
    "instance",
    aggregates=(Instance,),
    audit=(
        AuditType(
            "server",
            "compute/server",
            aggregates=("Instance", "Resizing", "Rebuilding", "Tagging", "AccessAddressing"),
            paths=("servers",),
        ),
    ),
    metering=Metering(
        "instance",
        meters=(
            Meter("vcpu_hours", "vCPU-hour", "vcpus", SECONDS_PER_HOUR),
            Meter("ram_mb_hours", "MB-hour", "ram_mb", SECONDS_PER_HOUR),
            Meter("root_gb_hours", "GB-hour", "root_gb", SECONDS_PER_HOUR),
            Meter("ephemeral_gb_hours", "GB-hour", "ephemeral_gb", SECONDS_PER_HOUR),
        ),
        rules={
            Instance.Requested: _requested,
            Instance.Updated: _renamed,
            Instance.Spawned: _spawned,
            Instance.Stopped: _stopped,
            Instance.Started: _started,
            Instance.PowerActionDone: _powered,
            Instance.Failed: _failed,
            Instance.Deleted: _deleted,
            Resizing.ResizeFinished: _resized,
            Resizing.ResizeConfirmed: _confirmed,
            Resizing.ResizeReverted: _reverted,
        },
    ),
    quota={"instances": 10, "cores": 20, "ram": 51200},
    # A host's network worker telling the spawn to go ahead: no view shows it.
    unwatched=(Interfacing.PortsPlugged,),
)
