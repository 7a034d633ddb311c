"""Images that name other images (``kernel_id``, ``ramdisk_id``): an image
create, a patch and a snapshot's metadata may name only images the caller
sees, and a boot only images the booting project sees, the boot image and
every image it names (issue 19, part 3). Another project's private image is
answered as an unknown id, and a refusal appends nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hostile_images import qcow2

from commands.app import CloudApp
from commands.catalog import CreateFlavor, RegisterHost, create_flavor, register_host
from commands.compute import claim_host, finish_spawn
from commands.identity import CreateProject, create_project
from commands.image_files import DirectoryImageStore
from commands.image_metadata import add_member, patch_image, set_member_status
from commands.images import CreateImage, create_image, upload_image
from commands.server_details import snapshot_server
from commands.servers import BootServer, boot_server
from domain.errors import DomainError, Forbidden, InvalidInput
from domain.image import Image
from domain.property_protections import PropertyProtections
from domain.values import SYSTEM, Actor


@dataclass
class World:
    app: CloudApp
    alice: Actor  # member of project alpha
    bob: Actor  # member of project beta
    admin: Actor


def _actor(app: CloudApp, name: str, role: str = "member") -> Actor:
    project = create_project(CreateProject(name), app, SYSTEM).id.hex
    return Actor(f"user-{name}", project, (role,), f"req-{name}")


@pytest.fixture
def world() -> World:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    admin = _actor(app, "admin", "admin")
    create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), app, admin)
    register_host(RegisterHost("compute-1", 16, 65536, 1000), app, admin)
    return World(app, _actor(app, "alpha"), _actor(app, "beta"), admin)


def _image(
    world: World,
    owner: Actor,
    disk_format: str = "qcow2",
    visibility: str = "private",
    properties: dict[str, str] | None = None,
) -> str:
    """An active image, stored as it is (no create-time checks: an image
    stored before them, or by an admin)."""
    image = Image(
        owner=owner.project_id,
        name=f"{disk_format}-{visibility}",
        disk_format=disk_format,
        container_format="bare",
        visibility=visibility,
        min_disk=0,
        min_ram=0,
        properties=properties or {},
        actor=owner,
    )
    image.record_upload("md5", "sha512", "sha", 10, owner)
    world.app.save(image)
    return str(image.id)


def _max_id(world: World) -> int:
    return world.app.recorder.max_notification_id() or 0


def _refused(world: World, call: object, error: type[DomainError] = InvalidInput) -> str:
    """The refusal's message; nothing appended."""
    before = _max_id(world)
    with pytest.raises(error) as caught:
        call()  # type: ignore[operator]
    assert _max_id(world) == before
    return caught.value.message


def _alike(first: str, first_id: str, second: str, second_id: str) -> None:
    """The two refusals say the same but for the id they repeat."""
    assert first.replace(first_id, "<id>") == second.replace(second_id, "<id>")


# --- image create and patch ----------------------------------------------------


def _create(world: World, actor: Actor, **properties: str) -> UUID:
    return create_image(CreateImage("ami", properties=properties), world.app, actor).id


def test_an_image_naming_another_projects_private_kernel_is_refused_as_an_unknown_id(
    world: World,
) -> None:
    hidden = _image(world, world.bob, "aki")
    unknown = str(uuid4())
    for key in ("kernel_id", "ramdisk_id"):
        seen = _refused(world, lambda k=key: _create(world, world.alice, **{k: hidden}))
        never = _refused(world, lambda k=key: _create(world, world.alice, **{k: unknown}))
        _alike(seen, hidden, never, unknown)


def test_a_patch_naming_another_projects_private_ramdisk_is_refused_as_an_unknown_id(
    world: World,
) -> None:
    hidden, unknown = _image(world, world.bob, "ari"), str(uuid4())
    own = str(_create(world, world.alice))

    def patch(value: str) -> object:
        ops = [{"op": "add", "path": "/ramdisk_id", "value": value}]
        return lambda: patch_image(own, ops, world.app, world.alice)

    _alike(_refused(world, patch(hidden)), hidden, _refused(world, patch(unknown)), unknown)


def test_another_projects_non_aki_image_is_not_told_apart_from_an_unknown_id(
    world: World,
) -> None:
    """The format is checked only for images the caller sees (otherwise a
    wrong-format answer would say the id exists)."""
    hidden, unknown = _image(world, world.bob, "qcow2"), str(uuid4())
    seen = _refused(world, lambda: _create(world, world.alice, kernel_id=hidden))
    never = _refused(world, lambda: _create(world, world.alice, kernel_id=unknown))
    _alike(seen, hidden, never, unknown)
    own_qcow2 = _image(world, world.alice, "qcow2")
    wrong = _refused(world, lambda: _create(world, world.alice, kernel_id=own_qcow2))
    assert "aki" in wrong


def test_public_and_shared_kernels_may_be_named(world: World) -> None:
    public = _image(world, world.bob, "aki", "public")
    shared = _image(world, world.bob, "ari", "shared")
    add_member(shared, world.alice.project_id, world.app, world.bob)
    set_member_status(shared, world.alice.project_id, "accepted", world.app, world.alice)
    _create(world, world.alice, kernel_id=public, ramdisk_id=shared)
    assert _create(world, world.admin, kernel_id=_image(world, world.bob, "aki"))


# --- boot ------------------------------------------------------------------------


def _boot(world: World, actor: Actor, image_id: str) -> UUID:
    return boot_server(BootServer("vm", "1", image_id, "none"), world.app, actor).id


def test_a_boot_of_an_image_naming_another_projects_private_kernel_is_refused(
    world: World,
) -> None:
    """An image stored with such a kernel (before the create-time check,
    or made public after) still cannot make a host fetch it for the boot."""
    hidden = _image(world, world.bob, "aki")
    unknown = str(uuid4())
    planted = _image(world, world.alice, properties={"kernel_id": hidden})
    never = _image(world, world.alice, properties={"kernel_id": unknown})
    seen = _refused(world, lambda: _boot(world, world.alice, planted))
    _alike(
        seen.replace(planted, "<image>"),
        hidden,
        _refused(world, lambda: _boot(world, world.alice, never)).replace(never, "<image>"),
        unknown,
    )
    malformed = _image(world, world.alice, properties={"ramdisk_id": "../../etc/passwd"})
    _refused(world, lambda: _boot(world, world.alice, malformed))


def test_a_public_image_whose_kernel_its_owner_alone_sees_boots_for_no_one_else(
    world: World,
) -> None:
    """Checked against the booting project, not against whoever set it."""
    kernel = _image(world, world.bob, "aki")
    ramdisk = _image(world, world.bob, "ari")
    machine = _image(
        world, world.bob, "qcow2", "public", {"kernel_id": kernel, "ramdisk_id": ramdisk}
    )
    _refused(world, lambda: _boot(world, world.alice, machine))
    assert _boot(world, world.bob, machine)  # its owner sees the kernel
    assert _boot(world, world.admin, machine)


def test_a_boot_refuses_a_deactivated_or_wrong_format_kernel(world: World) -> None:
    kernel = world.app.repository.get(UUID(_image(world, world.alice, "aki", "public")))
    kernel.deactivate(world.admin)
    world.app.save(kernel)
    not_active = _image(world, world.alice, properties={"kernel_id": str(kernel.id)})
    assert "not active" in _refused(world, lambda: _boot(world, world.alice, not_active))
    disk = _image(world, world.alice, "qcow2")
    wrong = _image(world, world.alice, properties={"ramdisk_id": disk})
    assert "ari" in _refused(world, lambda: _boot(world, world.alice, wrong))


def test_public_and_accepted_shared_kernels_boot(world: World) -> None:
    kernel = _image(world, world.bob, "aki", "public")
    ramdisk = _image(world, world.bob, "ari", "shared")
    add_member(ramdisk, world.alice.project_id, world.app, world.bob)
    set_member_status(ramdisk, world.alice.project_id, "accepted", world.app, world.alice)
    machine = _image(world, world.alice, properties={"kernel_id": kernel, "ramdisk_id": ramdisk})
    assert _boot(world, world.alice, machine)


# --- snapshots (createImage) ------------------------------------------------------


def _server(world: World, actor: Actor) -> str:
    server = _boot(world, actor, _image(world, world.admin, "qcow2", "public"))
    assert claim_host(world.app, server, "compute-1")
    finish_spawn(world.app, server)
    return str(server)


def _snapshot(
    world: World,
    server: str,
    metadata: dict[str, str],
    protections: PropertyProtections | None = None,
) -> object:
    guard = () if protections is None else (protections,)
    return lambda: snapshot_server(server, "snap", metadata, world.app, world.alice, *guard)


def test_a_snapshot_naming_another_projects_private_kernel_is_refused(world: World) -> None:
    server = _server(world, world.alice)
    hidden, unknown = _image(world, world.bob, "aki"), str(uuid4())
    seen = _refused(world, _snapshot(world, server, {"kernel_id": hidden}))
    never = _refused(world, _snapshot(world, server, {"kernel_id": unknown}))
    _alike(seen, hidden, never, unknown)
    _refused(world, _snapshot(world, server, {"kernel_id": "not-an-id"}))
    public = _image(world, world.bob, "aki", "public")
    receipt = snapshot_server(server, "snap", {"kernel_id": public}, world.app, world.alice)
    assert world.app.repository.get(receipt.id).properties["kernel_id"] == public


@pytest.mark.parametrize(
    ("key", "word"),
    [
        ("os_glance_injected", "reserved"),
        ("os_glance_import_task", "reserved"),
        ("deleted", "reserved"),
        ("location", "reserved"),
        ("direct_url", "read-only"),
        ("locations", "read-only"),
        ("status", "read-only"),
        ("owner", "read-only"),
        ("checksum", "read-only"),
    ],
)
def test_snapshot_metadata_obeys_glances_reserved_and_read_only_names(
    world: World, key: str, word: str
) -> None:
    server = _server(world, world.alice)
    message = _refused(world, _snapshot(world, server, {key: "x"}), Forbidden)
    assert word in message


def test_snapshot_metadata_obeys_the_property_protections(world: World) -> None:
    rules = PropertyProtections.parse("[^x_admin_.*]\ncreate = admin\nread = @\n\n[.*]\ncreate = @")
    server = _server(world, world.alice)
    _refused(world, _snapshot(world, server, {"x_admin_only": "x"}, rules), Forbidden)
    receipt = snapshot_server(server, "snap", {"note": "x"}, world.app, world.alice, rules)
    assert world.app.repository.get(receipt.id).properties["note"] == "x"


# --- what a service may fill ---------------------------------------------------


def _upload_as_service(world: World, image_id: str, tmp_path: Path) -> str:
    service = Actor("compute-service", world.admin.project_id, ("service",), "req-host")
    receipt = upload_image(image_id, [qcow2()], world.app, DirectoryImageStore(tmp_path), service)
    return str(world.app.repository.get(receipt.id).status)


def test_a_snapshots_image_type_is_the_callers_as_novas_and_its_server_fills_it(
    world: World, tmp_path: Path
) -> None:
    server = _server(world, world.alice)
    receipt = snapshot_server(server, "snap", {"image_type": "test"}, world.app, world.alice)
    image = world.app.repository.get(receipt.id)
    assert image.properties["image_type"] == "test"
    assert image.properties["instance_uuid"] == server
    assert _upload_as_service(world, str(receipt.id), tmp_path) == "active"


def test_a_service_may_not_fill_an_image_no_server_is_snapshotting_into(
    world: World, tmp_path: Path
) -> None:
    """An image a tenant made to look like a snapshot (its type and server
    named) is no snapshot: the host's service user may not write it."""
    server = _server(world, world.alice)
    lookalike = _create(world, world.alice, image_type="snapshot", instance_uuid=server)
    with pytest.raises(Forbidden):
        _upload_as_service(world, str(lookalike), tmp_path)
    assert world.app.repository.get(lookalike).status == "queued"
