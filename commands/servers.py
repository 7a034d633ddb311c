"""User commands on servers: boot, and the checks that find what a boot
names; stops, starts and deletes are in commands/server_actions.py."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID, uuid4

from commands.app import CloudApp
from commands.image_metadata import IMAGE_REFERENCES
from commands.keypairs import keypair_named
from commands.loading import BatchAggregates, load, parse_uuid
from commands.receipt import Receipt
from commands.server_networks import (
    ServerNetworking,
    SpoiledBoot,
)
from commands.volume_boot import BlockDevice, map_boot_volumes, root_image
from domain.errors import DomainError, InvalidInput, NotFound
from domain.flavor import Flavor
from domain.image import Image
from domain.instance import Instance
from domain.quota import Quota
from domain.server_group import ServerGroup
from domain.subnet import exhausted
from domain.tags import require_tags
from domain.values import (
    Actor,
    NetworkRequest,
    natural_id,
    network_requests,
    require_metadata,
    require_text,
)


@dataclass(frozen=True)
class BootServer:
    name: str
    flavor_id: str
    image_id: str
    # "none", "auto" (no network found for it), or the networks asked for
    # (the API resolves "auto" to the project's network or the shared one).
    networks: str | tuple[NetworkRequest, ...]
    metadata: dict[str, str] = field(default_factory=dict)  # within Nova's limits
    key_name: str = ""  # a keypair of the booting user; 400 if there is none
    description: str = ""
    # As many as the quota allows up to max_count, and never fewer than
    # min_count (then none at all); named "<name>-1", "<name>-2", ... if more than one.
    min_count: int = 1
    max_count: int = 1
    group: str = ""  # a ServerGroup of the project (os:scheduler_hints)
    availability_zone: str = ""  # "" for any
    forced_host: str = ""  # an admin's AZ:HOST: the scheduler skips its filters
    tags: tuple[str, ...] = ()  # from compute 2.52
    access_ipv4: str = ""  # what the user says the server is reached at, shown as given
    access_ipv6: str = ""
    # Volumes (block_device_mapping_v2); with a root one the image may be "".
    block_devices: tuple[BlockDevice, ...] = ()
    # The groups of the ports made for it, by id ("" the project's default);
    # () for the default one only.
    security_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerAction:
    """stop / start / delete of one server."""

    server_id: str


def boot_server(cmd: BootServer, app: CloudApp, actor: Actor) -> Receipt:
    """Reserve quota and request the instance in one atomic save."""
    (outcome,) = boot_servers([(cmd, actor)], app)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def boot_servers(
    requests: Sequence[tuple[BootServer, Actor]], app: CloudApp
) -> list[Receipt | DomainError]:
    """Boots of ONE project: each reserves on the project's quota and requests
    its instance; all that pass go into one atomic save. One refused boot
    (bad input, over quota) gets its error and takes nothing from the others."""
    if not requests:
        return []
    (project_id,) = {actor.project_id for _, actor in requests}
    reads = _Reads(app)
    reads.preload(requests)
    # Read last, to keep short the time in which a concurrent write to the
    # quota (a worker releasing) can make this whole save lose its race.
    quota = load(app, Quota, Quota.create_id(project_id), "Quota")
    networking = ServerNetworking(app, quota)
    outcomes: list[list[Instance] | DomainError] = []
    for index, (cmd, actor) in enumerate(requests):
        try:
            outcomes.append(_requested(cmd, reads, actor, quota, networking))
        except SpoiledBoot as exc:  # it changed the batch before failing: again without it
            others = boot_servers([*requests[:index], *requests[index + 1 :]], app)
            return [*others[:index], exc.cause, *others[index:]]
        except DomainError as exc:
            outcomes.append(exc)
    instances = [i for o in outcomes if not isinstance(o, DomainError) for i in o]
    groups = list(reads.joined.values())
    ports = networking.changed(quota, requests[0][1]) if instances else []
    volumes = list(reads.volumes.loaded.values())
    recordings = app.save(quota, *groups, *instances, *ports, *volumes) if instances else []
    # A receipt names the first server a request booted (Nova answers with it).
    return [o if isinstance(o, DomainError) else Receipt.of(o[0].id, recordings) for o in outcomes]


A = TypeVar("A", Flavor, Image, ServerGroup)


class _Reads:
    """Flavors and images a batch of boots reads, each loaded once: many
    boots name the same ones, and they are only read, never changed."""

    def __init__(self, app: CloudApp) -> None:
        self.app = app
        self.seen: dict[UUID, Flavor | Image | ServerGroup | NotFound] = {}
        self.joined: dict[UUID, ServerGroup] = {}  # groups new members joined
        self.volumes = BatchAggregates(app)  # those a boot maps (saved alone: volume_boot.py)

    def preload(self, requests: Sequence[tuple[BootServer, Actor]]) -> None:
        """Every flavor and image the boots name, in one query."""
        ids = {natural_id("flavor", cmd.flavor_id) for cmd, _ in requests}
        for cmd, _ in requests:
            with contextlib.suppress(NotFound):
                ids.add(parse_uuid(cmd.image_id, "Image"))
        found = self.app.repository.get_many(ids)
        for aggregate_id in ids:
            self.seen[aggregate_id] = found.get(aggregate_id) or NotFound("not found")

    def get(self, kind: type[A], aggregate_id: UUID, label: str) -> A:
        if aggregate_id not in self.seen:
            try:
                self.seen[aggregate_id] = load(self.app, kind, aggregate_id, label)
            except NotFound as exc:
                self.seen[aggregate_id] = exc
        found = self.seen[aggregate_id]
        if isinstance(found, NotFound):
            raise found
        if not isinstance(found, kind):
            raise NotFound(f"{label} could not be found.")
        return found


def _requested(
    cmd: BootServer, reads: _Reads, actor: Actor, quota: Quota, networking: ServerNetworking
) -> list[Instance]:
    require_text(cmd.name, "Server name")
    if not 1 <= cmd.min_count <= cmd.max_count:
        raise InvalidInput("min_count must be at least 1 and at most max_count")
    require_metadata(cmd.metadata)
    require_tags(cmd.tags)
    flavor = _bootable_flavor(reads, cmd.flavor_id, actor)
    bootable = functools.partial(_bootable_image, reads, actor=actor)
    image_id = root_image(cmd.image_id, cmd.block_devices, cmd.max_count, flavor, bootable)
    require_text(cmd.description, "Server description", allow_empty=True)
    key_data = _public_key(reads.app, actor, cmd.key_name) if cmd.key_name else ""
    amounts = {"instances": 1, "cores": flavor.vcpus, "ram": flavor.ram_mb}
    group = _group(reads, cmd.group, actor) if cmd.group else None
    asked = list(cmd.networks) if isinstance(cmd.networks, tuple) else None
    plan = networking.plan(asked, actor, cmd.max_count, cmd.security_groups) if asked else None
    ports = {"port": plan.new_ports} if plan and plan.new_ports else {}
    count = quota.fits({**amounts, **ports}, cmd.max_count)
    addressed = networking.fits(plan, count) if plan else count
    if min(count, addressed) < cmd.min_count:  # all or nothing: say why, change nothing
        quota.check({k: v * cmd.min_count for k, v in {**amounts, **ports}.items()})
        raise exhausted(next(iter(plan.networks)) if plan else "")
    count = min(count, addressed)
    instances = []
    for n in range(1, count + 1):
        # Its id first: the ports made for it name it, and its Requested
        # event names them (one event, not a second one listing its ports).
        server_id = uuid4()
        networks, made = (
            networking.attach(server_id, actor.project_id, plan, cmd.availability_zone, actor)
            if plan is not None
            else (_no_plan(cmd.networks), [])
        )
        instance = Instance(
            id=server_id,
            project_id=actor.project_id,
            user_id=actor.user_id,
            name=cmd.name if cmd.max_count == 1 else f"{cmd.name}-{n}",
            flavor=flavor.snapshot(),
            image_id=image_id,
            networks=networks,
            actor=actor,
            key_name=cmd.key_name,
            key_data=key_data,
            metadata=dict(cmd.metadata),
            description=cmd.description,
            server_group=cmd.group,
            availability_zone=cmd.availability_zone,
            forced_host=cmd.forced_host,
        )
        if cmd.tags:
            instance.set_tags(cmd.tags, actor)
        if cmd.access_ipv4 or cmd.access_ipv6:
            instance.set_access_addresses(cmd.access_ipv4, cmd.access_ipv6, actor)
        # The server's share and its new ports' in one event (fits: checked above).
        quota.reserve_many({str(instance.id): amounts, **{p: {"port": 1} for p in made}}, actor)
        map_boot_volumes(instance, cmd.block_devices, reads.volumes, quota, actor)
        if group is not None:
            group.add_member(str(instance.id), actor)
            reads.joined[group.id] = group
        instances.append(instance)
    return instances


def _no_plan(networks: str | tuple[NetworkRequest, ...]) -> list[NetworkRequest]:
    return network_requests(networks) if isinstance(networks, str) else []


def _group(reads: _Reads, group_id: str, actor: Actor) -> ServerGroup:
    """The project's server group a boot joins; 400 for any other id."""
    invalid = InvalidInput(f"Invalid server group: {group_id}")
    try:
        group = reads.get(ServerGroup, parse_uuid(group_id, "Server group"), "Server group")
    except NotFound:
        raise invalid from None
    if group.deleted or not (group.project_id == actor.project_id or actor.is_admin):
        raise invalid
    return group


def _public_key(app: CloudApp, actor: Actor, key_name: str) -> str:
    """The booting user's keypair of that name; never silently none."""
    try:
        return keypair_named(app, actor.user_id, key_name).public_key
    except NotFound:
        raise InvalidInput(f"Invalid key_name provided: {key_name}") from None


def bootable_flavor(app: CloudApp, flavor_id: str, actor: Actor) -> Flavor:
    """A flavor the caller may boot (or resize to); 400 for any other id."""
    return _bootable_flavor(_Reads(app), flavor_id, actor)


def _bootable_flavor(reads: _Reads, flavor_id: str, actor: Actor) -> Flavor:
    try:
        flavor = reads.get(Flavor, natural_id("flavor", flavor_id), "Flavor")
    except NotFound:
        raise InvalidInput(f"Flavor {flavor_id} could not be found.") from None
    if not (flavor.usable_by(actor.project_id) or (flavor.active and actor.is_admin)):
        raise InvalidInput(f"Flavor {flavor_id} could not be found.")
    return flavor


def bootable_image(app: CloudApp, image_id: str, actor: Actor) -> Image:
    """An active image the caller may boot (or rebuild from); 400 for any other id."""
    return _bootable_image(_Reads(app), image_id, actor)


def _bootable_image(reads: _Reads, image_id: str, actor: Actor) -> Image:
    try:
        image = reads.get(Image, parse_uuid(image_id, "Image"), "Image")
    except NotFound:
        raise InvalidInput(f"Image {image_id} could not be found.") from None
    if not image.visible_to(actor.project_id, actor.is_admin):
        raise InvalidInput(f"Image {image_id} could not be found.")
    if image.status != "active":
        raise InvalidInput(f"Image {image_id} is not active.")
    for key, disk_format in IMAGE_REFERENCES.items():
        if image.properties.get(key):
            _referenced_image(reads, image, key, disk_format, actor)
    return image


def _referenced_image(
    reads: _Reads, image: Image, key: str, disk_format: str, actor: Actor
) -> Image:
    """The kernel or ramdisk a boot image names must be one the booting
    project may use too, checked again here (it was checked against whoever
    set it, and who may see it changes): the host fetches it with its own
    rights, for anyone. Unknown and invisible ids are answered alike."""
    ref_id = image.properties[key]
    missing = InvalidInput(f"The {key} {ref_id[:64]!r} of image {image.id} could not be found.")
    try:
        ref = reads.get(Image, UUID(ref_id), "Image")
    except (ValueError, NotFound):
        raise missing from None
    if not ref.visible_to(actor.project_id, actor.is_admin):
        raise missing
    if ref.status != "active":
        raise InvalidInput(f"The {key} {ref_id} of image {image.id} is not active.")
    if ref.disk_format != disk_format:
        raise InvalidInput(f"The {key} of image {image.id} must name an {disk_format} image.")
    return ref


def owned_instance(app: CloudApp, server_id: str, actor: Actor) -> Instance:
    """The caller's live instance, or NotFound (other tenants' ids stay hidden)."""
    label = f"Instance {server_id}"
    instance = load(app, Instance, parse_uuid(server_id, label), label)
    return owned(instance, server_id, actor)


def owned(instance: Instance | None, server_id: str, actor: Actor) -> Instance:
    if instance is None or instance.is_deleted or not instance.visible_to(actor):
        raise NotFound(f"Instance {server_id} could not be found.")
    return instance
