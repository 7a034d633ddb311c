"""Admin commands on flavors, quotas and compute hosts."""

from __future__ import annotations

from dataclasses import dataclass

from commands.app import CloudApp
from commands.loading import load
from commands.receipt import Receipt
from domain.errors import Conflict, NotFound
from domain.flavor import Flavor
from domain.host import ComputeHost
from domain.quota import Quota
from domain.values import Actor


@dataclass(frozen=True)
class CreateFlavor:
    flavor_id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    ephemeral_gb: int = 0
    swap_mb: int = 0
    is_public: bool = True


@dataclass(frozen=True)
class RegisterHost:
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    cpu_ratio: float = 16.0
    ram_ratio: float = 1.5
    disk_ratio: float = 1.0
    zone: str = "nova"


def create_flavor(cmd: CreateFlavor, app: CloudApp, actor: Actor) -> Receipt:
    Flavor.validate(cmd.name, cmd.vcpus, cmd.ram_mb, cmd.disk_gb, cmd.ephemeral_gb, cmd.swap_mb)
    if Flavor.create_id(cmd.flavor_id) in app.repository:
        raise Conflict(f"Flavor with ID {cmd.flavor_id} already exists.")
    flavor = Flavor(
        flavor_id=cmd.flavor_id,
        name=cmd.name,
        vcpus=cmd.vcpus,
        ram_mb=cmd.ram_mb,
        disk_gb=cmd.disk_gb,
        ephemeral_gb=cmd.ephemeral_gb,
        swap_mb=cmd.swap_mb,
        is_public=cmd.is_public,
        actor=actor,
    )
    return Receipt.of(flavor.id, app.save(flavor))


def delete_flavor(flavor_id: str, app: CloudApp, actor: Actor) -> Receipt:
    flavor = _active_flavor(app, flavor_id)
    flavor.deactivate(actor)
    return Receipt.of(flavor.id, app.save(flavor))


def _active_flavor(app: CloudApp, flavor_id: str) -> Flavor:
    flavor = load(app, Flavor, Flavor.create_id(flavor_id), f"Flavor {flavor_id}")
    if not flavor.active:
        raise NotFound(f"Flavor {flavor_id} could not be found.")
    return flavor


def set_extra_specs(flavor_id: str, specs: dict[str, str], app: CloudApp, actor: Actor) -> Receipt:
    flavor = _active_flavor(app, flavor_id)
    flavor.set_extra_specs(specs, actor)
    return Receipt.of(flavor.id, app.save(flavor))


def delete_extra_spec(flavor_id: str, key: str, app: CloudApp, actor: Actor) -> Receipt:
    flavor = _active_flavor(app, flavor_id)
    flavor.delete_extra_spec(key, actor)
    return Receipt.of(flavor.id, app.save(flavor))


def change_flavor_access(
    flavor_id: str, project_id: str, grant: bool, app: CloudApp, actor: Actor
) -> Receipt:
    """Let a project use a private flavor (grant) or no longer (revoke)."""
    flavor = _active_flavor(app, flavor_id)
    if grant:
        flavor.add_access(project_id, actor)
    else:
        flavor.remove_access(project_id, actor)
    return Receipt.of(flavor.id, app.save(flavor))


def update_quota(project_id: str, limits: dict[str, int], app: CloudApp, actor: Actor) -> Receipt:
    quota = load(app, Quota, Quota.create_id(project_id), f"Project {project_id}")
    quota.set_limits(limits, actor)
    return Receipt.of(quota.id, app.save(quota))


def register_host(cmd: RegisterHost, app: CloudApp, actor: Actor) -> Receipt:
    """Idempotent: re-registering with the same sizes appends nothing."""
    host_id = ComputeHost.create_id(cmd.name)
    if host_id in app.repository:
        existing = load(app, ComputeHost, host_id, f"Host {cmd.name}")
        existing.check_same_capacity(cmd.vcpus, cmd.ram_mb, cmd.disk_gb)
        return Receipt(host_id)
    host = ComputeHost(
        name=cmd.name,
        vcpus=cmd.vcpus,
        ram_mb=cmd.ram_mb,
        disk_gb=cmd.disk_gb,
        cpu_ratio=cmd.cpu_ratio,
        ram_ratio=cmd.ram_ratio,
        disk_ratio=cmd.disk_ratio,
        zone=cmd.zone,
        actor=actor,
    )
    return Receipt.of(host.id, app.save(host))


def set_host_enabled(
    name: str, enabled: bool, app: CloudApp, actor: Actor, reason: str | None = None
) -> Receipt:
    """A disabled host takes no new instances; the ones on it keep running.
    The reason, if any, is kept until the host is enabled again."""
    host = load(app, ComputeHost, ComputeHost.create_id(name), f"Compute host {name}")
    if enabled:
        host.enable(actor)
    else:
        host.disable(reason, actor)
    return Receipt.of(host.id, app.save(host))


def set_host_forced_down(name: str, forced_down: bool, app: CloudApp, actor: Actor) -> Receipt:
    """A forced-down host shows down and takes no claims, whatever its heartbeat."""
    host = load(app, ComputeHost, ComputeHost.create_id(name), f"Compute host {name}")
    host.set_forced_down(forced_down, actor)
    return Receipt.of(host.id, app.save(host))
