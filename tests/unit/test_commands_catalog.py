"""Unit tests for the admin catalog commands: flavors, quotas, hosts."""

from dataclasses import replace

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
from commands.identity import CreateProject, create_project
from domain.errors import Conflict, InvalidInput, NotFound
from domain.flavor import Flavor
from domain.host import ComputeHost, Resources
from domain.quota import Quota
from domain.values import SYSTEM


def _app() -> CloudApp:
    return CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _max_id(app: CloudApp) -> int:
    return app.recorder.max_notification_id() or 0


TINY = CreateFlavor("1", "m1.tiny", vcpus=1, ram_mb=512, disk_gb=1)


# --- flavors ----------------------------------------------------------------


def test_create_flavor_saves_it_under_its_natural_id() -> None:
    app = _app()
    receipt = create_flavor(replace(TINY, swap_mb=512, ephemeral_gb=2), app, SYSTEM)
    assert receipt.id == Flavor.create_id("1")
    assert [t for _, t in receipt.events] == ["domain.flavor:Flavor.Created"]
    flavor = app.repository.get(receipt.id)
    assert isinstance(flavor, Flavor)
    assert (flavor.vcpus, flavor.ram_mb, flavor.disk_gb) == (1, 512, 1)
    assert (flavor.ephemeral_gb, flavor.swap_mb, flavor.is_public) == (2, 512, True)


def test_create_flavor_with_an_existing_id_is_a_conflict() -> None:
    app = _app()
    create_flavor(TINY, app, SYSTEM)
    with pytest.raises(Conflict, match=r"Flavor with ID 1 already exists\."):
        create_flavor(replace(TINY, name="other"), app, SYSTEM)
    assert _max_id(app) == 1


def test_create_flavor_with_bad_sizes_appends_nothing() -> None:
    app = _app()
    with pytest.raises(InvalidInput):
        create_flavor(replace(TINY, vcpus=0), app, SYSTEM)
    assert _max_id(app) == 0


@pytest.mark.parametrize("field", ["ephemeral_gb", "swap_mb"])
def test_create_flavor_with_negative_ephemeral_or_swap_is_invalid(field: str) -> None:
    app = _app()
    with pytest.raises(InvalidInput):
        create_flavor(replace(TINY, **{field: -2048}), app, SYSTEM)


def test_delete_flavor_deactivates_it() -> None:
    app = _app()
    create_flavor(TINY, app, SYSTEM)
    receipt = delete_flavor("1", app, SYSTEM)
    assert [t for _, t in receipt.events] == ["domain.flavor:Flavor.Deactivated"]
    flavor = app.repository.get(Flavor.create_id("1"))
    assert isinstance(flavor, Flavor)
    assert not flavor.active


def test_deleting_a_deleted_flavor_is_not_found_and_appends_nothing() -> None:
    app = _app()
    create_flavor(TINY, app, SYSTEM)
    delete_flavor("1", app, SYSTEM)
    before = app.recorder.max_notification_id()
    with pytest.raises(NotFound, match=r"Flavor 1 could not be found\."):
        delete_flavor("1", app, SYSTEM)
    assert app.recorder.max_notification_id() == before


def test_delete_unknown_flavor_is_not_found() -> None:
    with pytest.raises(NotFound, match=r"Flavor 9 could not be found\."):
        delete_flavor("9", _app(), SYSTEM)


# --- quotas -----------------------------------------------------------------


def test_update_quota_changes_the_limits() -> None:
    app = _app()
    project_id = create_project(CreateProject("alpha"), app, SYSTEM).id.hex
    receipt = update_quota(project_id, {"instances": 3, "cores": -1}, app, SYSTEM)
    assert [t for _, t in receipt.events] == ["domain.quota:Quota.LimitsSet"]
    quota = app.repository.get(Quota.create_id(project_id))
    assert isinstance(quota, Quota)
    compute = {k: quota.limits[k] for k in ("instances", "cores", "ram")}
    assert compute == {"instances": 3, "cores": -1, "ram": 51200}


def test_update_quota_of_unknown_project_is_not_found() -> None:
    with pytest.raises(NotFound, match=r"Project nope could not be found\."):
        update_quota("nope", {"instances": 1}, _app(), SYSTEM)


def test_update_quota_with_invalid_limits_appends_nothing() -> None:
    app = _app()
    project_id = create_project(CreateProject("alpha"), app, SYSTEM).id.hex
    before = _max_id(app)
    with pytest.raises(InvalidInput):
        update_quota(project_id, {"instances": -5}, app, SYSTEM)
    assert _max_id(app) == before


# --- hosts ------------------------------------------------------------------


def test_register_host_saves_capacity_and_ratios() -> None:
    app = _app()
    receipt = register_host(RegisterHost("compute-1", 16, 1000, 100), app, SYSTEM)
    assert receipt.id == ComputeHost.create_id("compute-1")
    host = app.repository.get(receipt.id)
    assert isinstance(host, ComputeHost)
    assert host.limits == Resources(256, 1500, 100)
    assert host.enabled
    assert host.zone == "nova"


def test_register_host_again_with_same_sizes_appends_nothing() -> None:
    app = _app()
    register_host(RegisterHost("compute-1", 16, 1000, 100), app, SYSTEM)
    receipt = register_host(RegisterHost("compute-1", 16, 1000, 100), app, SYSTEM)
    assert receipt.events == ()
    assert receipt.id == ComputeHost.create_id("compute-1")
    assert _max_id(app) == 1


def test_register_host_again_with_other_sizes_is_a_conflict() -> None:
    app = _app()
    register_host(RegisterHost("compute-1", 16, 1000, 100), app, SYSTEM)
    with pytest.raises(Conflict, match="already registered"):
        register_host(RegisterHost("compute-1", 32, 1000, 100), app, SYSTEM)
    assert _max_id(app) == 1
