"""Unit tests for the server commands on the in-memory event store."""

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest

from commands.app import CloudApp
from commands.catalog import (
    CreateFlavor,
    RegisterHost,
    create_flavor,
    delete_flavor,
    register_host,
    update_quota,
)
from commands.compute import claim_host, fail_instance, finish_spawn
from commands.identity import CreateProject, create_project
from commands.receipt import Receipt
from commands.server_actions import act_on_servers, delete_server, start_server, stop_server
from commands.servers import BootServer, ServerAction, boot_server, boot_servers, owned_instance
from domain.errors import InvalidInput, InvalidTransition, NotFound, QuotaExceeded
from domain.host import ComputeHost
from domain.image import Image
from domain.instance import NO_VALID_HOST, Instance
from domain.quota import Quota
from domain.values import (
    MAX_METADATA_ITEMS,
    MAX_METADATA_TEXT,
    SYSTEM,
    Actor,
    TaskState,
    VmState,
)


@dataclass
class World:
    app: CloudApp
    alice: Actor  # member of project "alpha"
    bob: Actor  # member of project "beta"
    admin: Actor  # admin of project "admin"
    image_id: str


def _project_actor(app: CloudApp, name: str, role: str = "member") -> Actor:
    receipt = create_project(CreateProject(name), app, SYSTEM)
    return Actor(f"user-{name}", receipt.id.hex, (role,), f"req-{name}")


def _image(
    app: CloudApp,
    owner: Actor,
    visibility: str = "public",
    active: bool = True,
    min_disk: int = 0,
    min_ram: int = 0,
) -> str:
    image = Image(
        owner=owner.project_id,
        name="cirros",
        disk_format="qcow2",
        container_format="bare",
        visibility=visibility,
        min_disk=min_disk,
        min_ram=min_ram,
        properties={},
        actor=owner,
    )
    if active:
        image.record_upload("md5", "sha512", "sha", 10, owner)
    app.save(image)
    return str(image.id)


@pytest.fixture
def world() -> World:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    admin = _project_actor(app, "admin", role="admin")
    create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), app, admin)
    create_flavor(CreateFlavor("2", "m1.small", 2, 2048, 20, swap_mb=512), app, admin)
    register_host(RegisterHost("compute-1", 16, 65536, 1000), app, admin)
    return World(
        app,
        _project_actor(app, "alpha"),
        _project_actor(app, "beta"),
        admin,
        _image(app, admin),
    )


def _max_id(app: CloudApp) -> int:
    return app.recorder.max_notification_id() or 0


def _topics_after(app: CloudApp, position: int) -> list[str]:
    notifications = app.recorder.select_notifications(start=position + 1, limit=1000)
    return [n.topic.rsplit(":", 1)[1] for n in notifications]


def _boot(world: World, actor: Actor | None = None, flavor: str = "1") -> Receipt:
    cmd = BootServer("vm", flavor, world.image_id, "none")
    return boot_server(cmd, world.app, actor or world.alice)


def _quota(world: World, actor: Actor) -> Quota:
    quota = world.app.repository.get(Quota.create_id(actor.project_id))
    assert isinstance(quota, Quota)
    return quota


def _instance(world: World, instance_id: UUID) -> Instance:
    instance = world.app.repository.get(instance_id)
    assert isinstance(instance, Instance)
    return instance


def _active(world: World, actor: Actor | None = None) -> UUID:
    instance_id = _boot(world, actor).id
    assert claim_host(world.app, instance_id, "compute-1")
    finish_spawn(world.app, instance_id)
    return instance_id


Handler = Callable[[ServerAction, CloudApp, Actor], Receipt]


def _act(handler: Handler, world: World, instance_id: UUID, actor: Actor) -> Receipt:
    return handler(ServerAction(str(instance_id)), world.app, actor)


# --- boot -----------------------------------------------------------------


def test_boot_appends_quota_reserved_and_instance_requested_in_one_save(
    world: World,
) -> None:
    before = _max_id(world.app)
    receipt = _boot(world)
    assert _max_id(world.app) == before + 2
    assert [topic for _, topic in receipt.events] == [
        "domain.quota:Quota.Reserved",
        "domain.instance:Instance.Requested",
    ]
    assert [nid for nid, _ in receipt.events] == [before + 1, before + 2]


def test_boot_creates_a_building_instance_for_the_caller(world: World) -> None:
    instance = _instance(world, _boot(world, flavor="2").id)
    assert instance.project_id == world.alice.project_id
    assert instance.user_id == world.alice.user_id
    assert instance.vm_state == VmState.BUILDING
    assert instance.task_state == TaskState.SCHEDULING
    assert instance.flavor.vcpus == 2
    assert instance.flavor.swap_mb == 512
    assert instance.image_id == world.image_id
    assert instance.last_request == world.alice


def test_boot_reserves_the_flavor_in_the_callers_quota(world: World) -> None:
    instance_id = _boot(world, flavor="2").id
    quota = _quota(world, world.alice)
    expected = {"instances": 1, "cores": 2, "ram": 2048}
    assert quota.allocations == {str(instance_id): expected}
    assert _quota(world, world.bob).allocations == {}


def test_boot_with_unknown_flavor_is_invalid_input(world: World) -> None:
    before = _max_id(world.app)
    cmd = BootServer("vm", "no-such-flavor", world.image_id, "none")
    with pytest.raises(InvalidInput, match="Flavor no-such-flavor could not be found"):
        boot_server(cmd, world.app, world.alice)
    assert _max_id(world.app) == before


def test_boot_with_deleted_flavor_is_invalid_input(world: World) -> None:
    delete_flavor("1", world.app, world.admin)
    with pytest.raises(InvalidInput, match="could not be found"):
        _boot(world)


def test_boot_with_private_flavor_is_invalid_input_for_members(world: World) -> None:
    cmd = CreateFlavor("p", "private", 1, 512, 1, is_public=False)
    create_flavor(cmd, world.app, world.admin)
    with pytest.raises(InvalidInput):
        _boot(world, flavor="p")
    assert _boot(world, world.admin, flavor="p").events


def test_boot_with_unknown_image_id_is_invalid_input(world: World) -> None:
    before = _max_id(world.app)
    cmd = BootServer("vm", "1", str(uuid4()), "none")
    with pytest.raises(InvalidInput, match="could not be found"):
        boot_server(cmd, world.app, world.alice)
    assert _max_id(world.app) == before


@pytest.mark.parametrize("image_id", ["not-a-uuid", "", "1234"])
def test_boot_with_malformed_image_id_is_invalid_input(
    world: World,
    image_id: str,
) -> None:
    with pytest.raises(InvalidInput, match="could not be found"):
        boot_server(BootServer("vm", "1", image_id, "none"), world.app, world.alice)


def test_boot_with_the_id_of_something_else_is_invalid_input(world: World) -> None:
    quota_id = str(Quota.create_id(world.alice.project_id))
    with pytest.raises(InvalidInput, match="could not be found"):
        boot_server(BootServer("vm", "1", quota_id, "none"), world.app, world.alice)


def test_boot_with_queued_image_is_invalid_input(world: World) -> None:
    image_id = _image(world.app, world.alice, "private", active=False)
    before = _max_id(world.app)
    with pytest.raises(InvalidInput, match="is not active"):
        boot_server(BootServer("vm", "1", image_id, "none"), world.app, world.alice)
    assert _max_id(world.app) == before


def test_boot_with_another_projects_private_image_is_invalid_input(
    world: World,
) -> None:
    image_id = _image(world.app, world.bob, "private")
    with pytest.raises(InvalidInput, match="could not be found"):
        boot_server(BootServer("vm", "1", image_id, "none"), world.app, world.alice)


def test_boot_when_image_needs_more_disk_than_flavor_is_invalid_input(
    world: World,
) -> None:
    image_id = _image(world.app, world.alice, "private", min_disk=2)
    with pytest.raises(InvalidInput, match="disk is too small"):
        boot_server(BootServer("vm", "1", image_id, "none"), world.app, world.alice)


def test_boot_with_zero_disk_flavor_ignores_min_disk(world: World) -> None:
    create_flavor(CreateFlavor("z", "zero", 1, 512, 0), world.app, world.admin)
    image_id = _image(world.app, world.alice, "private", min_disk=50)
    cmd = BootServer("vm", "z", image_id, "none")
    receipt = boot_server(cmd, world.app, world.alice)
    assert len(receipt.events) == 2


def test_boot_when_image_needs_more_ram_than_flavor_is_invalid_input(
    world: World,
) -> None:
    image_id = _image(world.app, world.alice, "private", min_ram=1024)
    with pytest.raises(InvalidInput, match="memory is too small"):
        boot_server(BootServer("vm", "1", image_id, "none"), world.app, world.alice)


@pytest.mark.parametrize("name", ["", "  ", "x" * 256])
def test_boot_with_bad_name_is_invalid_input(world: World, name: str) -> None:
    with pytest.raises(InvalidInput, match="name"):
        cmd = BootServer(name, "1", world.image_id, "none")
        boot_server(cmd, world.app, world.alice)


def test_boot_over_quota_is_rejected_and_appends_nothing(world: World) -> None:
    update_quota(world.alice.project_id, {"instances": 1}, world.app, world.admin)
    _boot(world)
    before = _max_id(world.app)
    with pytest.raises(QuotaExceeded) as exc:
        _boot(world)
    assert exc.value.message == (
        "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances"
    )
    assert _max_id(world.app) == before
    assert len(_quota(world, world.alice).allocations) == 1


def test_boot_over_cores_quota_is_rejected(world: World) -> None:
    update_quota(world.alice.project_id, {"cores": 3}, world.app, world.admin)
    _boot(world, flavor="2")
    with pytest.raises(QuotaExceeded, match="for cores: Requested 2"):
        _boot(world, flavor="2")


def test_one_projects_full_quota_does_not_affect_another(world: World) -> None:
    update_quota(world.alice.project_id, {"instances": 0}, world.app, world.admin)
    with pytest.raises(QuotaExceeded):
        _boot(world)
    assert len(_boot(world, world.bob).events) == 2


# --- stop / start -----------------------------------------------------------


def test_stop_of_an_active_server_requests_powering_off(world: World) -> None:
    instance_id = _active(world)
    receipt = _act(stop_server, world, instance_id, world.alice)
    assert [t for _, t in receipt.events] == ["domain.instance:Instance.StopRequested"]
    assert _instance(world, instance_id).task_state == TaskState.POWERING_OFF


def test_stop_while_building_is_rejected_and_appends_nothing(world: World) -> None:
    instance_id = _boot(world).id
    before = _max_id(world.app)
    with pytest.raises(InvalidTransition):
        _act(stop_server, world, instance_id, world.alice)
    assert _max_id(world.app) == before


def test_start_of_an_active_server_is_rejected(world: World) -> None:
    instance_id = _active(world)
    with pytest.raises(InvalidTransition):
        _act(start_server, world, instance_id, world.alice)


# --- delete -----------------------------------------------------------------


def test_delete_of_an_unscheduled_server_finishes_at_once(world: World) -> None:
    instance_id = _boot(world).id
    before = _max_id(world.app)
    receipt = _act(delete_server, world, instance_id, world.alice)
    assert _topics_after(world.app, before) == [
        "Instance.DeleteRequested",
        "Instance.Deleted",
        "Quota.Released",
    ]
    assert len(receipt.events) == 3
    assert _instance(world, instance_id).is_deleted
    assert not any(_quota(world, world.alice).in_use.values())


def test_delete_of_a_scheduled_server_only_requests_deletion(world: World) -> None:
    instance_id = _active(world)
    before = _max_id(world.app)
    _act(delete_server, world, instance_id, world.alice)
    assert _topics_after(world.app, before) == ["Instance.DeleteRequested"]
    instance = _instance(world, instance_id)
    assert instance.task_state == TaskState.DELETING
    assert instance.holds_quota
    assert instance.holds_claim
    assert str(instance_id) in _quota(world, world.alice).allocations
    host = world.app.repository.get(ComputeHost.create_id("compute-1"))
    assert str(instance_id) in host.claims


def test_delete_again_while_deleting_asks_the_host_again(world: World) -> None:
    instance_id = _active(world)
    _act(delete_server, world, instance_id, world.alice)
    before = _max_id(world.app)
    _act(delete_server, world, instance_id, world.alice)
    assert _max_id(world.app) == before + 1


def test_deleted_server_is_not_found(world: World) -> None:
    instance_id = _boot(world).id
    _act(delete_server, world, instance_id, world.alice)
    with pytest.raises(NotFound):
        _act(delete_server, world, instance_id, world.alice)


def test_delete_of_a_server_that_failed_scheduling_releases_nothing_twice(
    world: World,
) -> None:
    instance_id = _boot(world).id
    fail_instance(world.app, instance_id, NO_VALID_HOST)
    before = _max_id(world.app)
    _act(delete_server, world, instance_id, world.alice)
    assert _topics_after(world.app, before) == [
        "Instance.DeleteRequested",
        "Instance.Deleted",
    ]
    assert _quota(world, world.alice).in_use["instances"] == 0


# --- tenant isolation -------------------------------------------------------


@pytest.mark.parametrize("handler", [stop_server, start_server, delete_server])
def test_another_projects_member_gets_not_found(world: World, handler: Handler) -> None:
    instance_id = _active(world)
    before = _max_id(world.app)
    with pytest.raises(NotFound, match=f"Instance {instance_id} could not be found"):
        _act(handler, world, instance_id, world.bob)
    assert _max_id(world.app) == before


def test_other_projects_server_looks_the_same_as_a_missing_one(world: World) -> None:
    instance_id = _boot(world).id
    missing = uuid4()
    with pytest.raises(NotFound) as hidden:
        owned_instance(world.app, str(instance_id), world.bob)
    with pytest.raises(NotFound) as absent:
        owned_instance(world.app, str(missing), world.bob)
    assert hidden.value.message.replace(str(instance_id), "X") == (
        absent.value.message.replace(str(missing), "X")
    )


def test_admin_can_act_on_another_projects_server(world: World) -> None:
    instance_id = _active(world)
    _act(stop_server, world, instance_id, world.admin)
    instance = _instance(world, instance_id)
    assert instance.task_state == TaskState.POWERING_OFF
    assert instance.last_request == world.admin


def test_owned_instance_with_malformed_id_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        owned_instance(world.app, "not-a-uuid", world.alice)


def test_owned_instance_with_the_id_of_something_else_is_not_found(
    world: World,
) -> None:
    with pytest.raises(NotFound):
        owned_instance(world.app, world.image_id, world.admin)


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({f"k{i}": "v" for i in range(MAX_METADATA_ITEMS + 1)}, QuotaExceeded),
        ({"k" * (MAX_METADATA_TEXT + 1): "v"}, InvalidInput),
        ({"": "v"}, InvalidInput),
        ({"k": "v" * (MAX_METADATA_TEXT + 1)}, InvalidInput),
        ({"k": "nul\x00"}, InvalidInput),
    ],
    ids=["too-many-items", "key-too-long", "key-empty", "value-too-long", "value-with-nul"],
)
def test_boot_with_metadata_over_novas_limits_is_refused_and_appends_nothing(
    world: World, metadata: dict[str, str], error: type[Exception]
) -> None:
    before = _max_id(world.app)
    cmd = BootServer("vm", "1", world.image_id, "none", metadata)
    with pytest.raises(error):
        boot_server(cmd, world.app, world.alice)
    assert _max_id(world.app) == before


def test_boot_with_metadata_at_novas_limits_is_accepted(world: World) -> None:
    metadata = {
        f"{i:03}".ljust(MAX_METADATA_TEXT, "k"): "v" * MAX_METADATA_TEXT for i in range(128)
    }
    cmd = BootServer("vm", "1", world.image_id, "none", metadata)
    assert boot_server(cmd, world.app, world.alice).id


def test_boots_of_one_project_go_into_one_save_and_a_refused_one_takes_nothing(
    world: World,
) -> None:
    set_quota = {"instances": 2}
    quota = _quota(world, world.alice)
    quota.set_limits(set_quota, SYSTEM)
    world.app.save(quota)
    before = _max_id(world.app)
    requests = [
        (BootServer("a", "1", world.image_id, "none"), world.alice),
        (BootServer("bad", "no-such-flavor", world.image_id, "none"), world.alice),
        (BootServer("b", "1", world.image_id, "none"), world.alice),
        (BootServer("c", "1", world.image_id, "none"), world.alice),  # over the quota of 2
    ]

    outcomes = boot_servers(requests, world.app)

    assert [type(o).__name__ for o in outcomes] == [
        "Receipt",
        "InvalidInput",
        "Receipt",
        "QuotaExceeded",
    ]
    assert _topics_after(world.app, before) == [
        "Quota.Reserved",
        "Quota.Reserved",
        "Instance.Requested",
        "Instance.Requested",
    ]
    assert _quota(world, world.alice).in_use["instances"] == 2


def test_a_batch_of_actions_is_one_save_and_a_refused_one_changes_nothing(world: World) -> None:
    """Each is judged as if the earlier ones had run: a second delete of a
    server the first one finished finds nothing; a malformed id and another
    tenant's server get their own errors; the rest land together."""
    running, other, unscheduled = _active(world), _active(world), _boot(world).id
    betas = _active(world, world.bob)
    before = _max_id(world.app)
    in_use = _quota(world, world.alice).in_use["instances"]

    outcomes = act_on_servers(
        [
            ("delete", str(running), world.alice),
            ("delete", str(unscheduled), world.alice),
            ("stop", str(other), world.alice),
            ("delete", "not-a-uuid", world.alice),
            ("delete", str(betas), world.alice),
            ("delete", str(unscheduled), world.alice),
        ],
        world.app,
    )

    first, gone, stop, malformed, foreign, again = outcomes
    assert isinstance(first, Receipt) and isinstance(stop, Receipt) and isinstance(gone, Receipt)
    assert first.events == stop.events == gone.events  # one save
    assert all(isinstance(o, NotFound) for o in (again, malformed, foreign))
    assert _instance(world, running).task_state == TaskState.DELETING
    assert _instance(world, other).task_state == TaskState.POWERING_OFF
    assert _instance(world, unscheduled).vm_state == VmState.DELETED  # no host to clean
    assert _instance(world, betas).task_state is None
    assert _quota(world, world.alice).in_use["instances"] == in_use - 1
    assert sorted(_topics_after(world.app, before)) == sorted(
        [
            *("Instance.DeleteRequested", "Instance.StopRequested"),
            *("Instance.DeleteRequested", "Instance.Deleted", "Quota.Released"),
        ]
    )


def test_a_multi_create_boots_as_many_as_the_quota_allows_named_by_number(world: World) -> None:
    update_quota(world.alice.project_id, {"instances": 3}, world.app, world.admin)
    cmd = BootServer("web", "1", world.image_id, "none", min_count=2, max_count=5)
    receipt = boot_server(cmd, world.app, world.alice)
    names = sorted(
        _instance(world, UUID(str(i))).name for i in _quota(world, world.alice).allocations
    )
    assert names == ["web-1", "web-2", "web-3"]
    assert _instance(world, receipt.id).name == "web-1"  # the answer names the first
    assert _quota(world, world.alice).in_use["instances"] == 3


def test_a_multi_create_below_its_min_count_boots_none(world: World) -> None:
    update_quota(world.alice.project_id, {"instances": 3}, world.app, world.admin)
    before = _max_id(world.app)
    cmd = BootServer("web", "1", world.image_id, "none", min_count=4, max_count=6)
    with pytest.raises(QuotaExceeded, match="instances"):
        boot_server(cmd, world.app, world.alice)
    assert _max_id(world.app) == before
    with pytest.raises(InvalidInput, match="min_count"):
        boot_server(
            BootServer("w", "1", world.image_id, "none", min_count=3, max_count=2),
            world.app,
            world.alice,
        )
