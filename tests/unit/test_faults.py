"""A server's fault tells its owner a short reason and admins the host's
error (paths, command lines, host names), as Nova splits ``message`` and
``details`` (issue 19, part 4). Faults stored before, with one long message,
still replay: their owner sees the part before the host's error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from api.server_views import fault
from commands.app import CloudApp
from commands.catalog import CreateFlavor, RegisterHost, create_flavor, register_host
from commands.compute import claim_host
from commands.identity import CreateProject, create_project
from commands.servers import BootServer, boot_server
from domain.faults import GONE_FROM_HOST, MAX_DETAILS, MAX_MESSAGE, legacy_fault
from domain.image import Image
from domain.instance import NO_VALID_HOST, Instance
from domain.values import SYSTEM, Actor, FlavorSnapshot
from workers.drivers.errors import PermanentDriverError, ShownToOwnerError, TransientDriverError
from workers.jobs.compute import run_or_fail

INSTANCE_ID = UUID("0b5c2b5e-7f4e-4d2b-9c7a-3e2f8f1d6a01")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the handler's time, passed in
TOPIC = "domain.instance:Instance.Failed"
# Byte for byte as the ledger stored an Instance.Failed of version 1 (made
# with the code before faults had details; never regenerate it).
STORED_V1 = (Path(__file__).parent.parent / "data" / "instance_failed_v1.json").read_bytes()
V1_MESSAGE: str = json.loads(STORED_V1)["message"]
HOST_ERROR = (
    "qemu-img create -f qcow2 -b /var/lib/cloudledger/hosts/compute-2/disks/_base/1f0e -F qcow2 "
    "/var/lib/cloudledger/hosts/compute-2/disks/0b5c/disk 1G exited with 1: Image is not qcow2"
)
OWNER = Actor("user-1", "project-1", ("member",), "req-boot")
ADMIN = Actor("root", "admin", ("admin",), "req-admin")
COMPUTE = OWNER.as_service("compute")


def _app() -> CloudApp:
    return CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _new_instance() -> Instance:
    vm: Instance = Instance._create(
        Instance.Requested, id=INSTANCE_ID, timestamp=datetime(2026, 3, 1, 12, tzinfo=UTC),
        project_id="project-1", user_id="user-1", name="web",
        flavor=FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0), image_id="img-1",
        networks=[], actor=OWNER, key_name="", key_data="", metadata={}, description="",
        server_group="", availability_zone="", forced_host="",
    )  # fmt: skip
    return vm


# --- the event, and old ones ---------------------------------------------------------


def test_a_fault_keeps_the_owners_message_and_the_admins_details_apart() -> None:
    vm = _new_instance()
    vm.fail("Build failed", 500, COMPUTE, details=HOST_ERROR, now=NOW)
    assert vm.fault is not None
    assert (vm.fault["message"], vm.fault["details"]) == ("Build failed", HOST_ERROR)
    state = json.loads(_app().mapper.to_stored_event(vm.collect_events()[-1]).state)
    assert state["class_version"] == 2
    assert (state["message"], state["details"]) == ("Build failed", HOST_ERROR)


def test_a_fault_is_bounded() -> None:
    vm = _new_instance()
    vm.fail("m" * 1000, 500, COMPUTE, details="d" * 100_000, now=NOW)
    assert vm.fault is not None
    assert len(vm.fault["message"]) == MAX_MESSAGE  # type: ignore[arg-type]
    assert len(vm.fault["details"]) == MAX_DETAILS  # type: ignore[arg-type]


def test_a_version_1_fault_as_stored_loads_with_the_host_error_as_details() -> None:
    event = _app().mapper.to_domain_event(StoredEvent(INSTANCE_ID, 2, TOPIC, STORED_V1))
    assert isinstance(event, Instance.Failed)
    assert event.message == "Build failed"
    assert event.details == V1_MESSAGE
    assert "/hosts/compute-2/" in event.details


def test_an_old_failed_history_replays_to_a_fault_with_details() -> None:
    app = _app()
    app.save(_new_instance())
    app.recorder.insert_events([StoredEvent(INSTANCE_ID, 2, TOPIC, STORED_V1)])
    vm = app.repository.get(INSTANCE_ID)
    assert vm.fault["message"] == "Build failed"
    assert vm.fault["details"] == V1_MESSAGE
    assert vm.fault["code"] == 500


@pytest.mark.parametrize(
    ("stored", "owner_sees", "details"),
    [
        (f"Build failed: {HOST_ERROR}", "Build failed", f"Build failed: {HOST_ERROR}"),
        ("Reboot hard failed after retries", "Reboot hard failed after retries", ""),
        ("Start failed unexpectedly", "Start failed unexpectedly", ""),
        (NO_VALID_HOST, NO_VALID_HOST, ""),
        (
            "the guest's domain vanished from host compute-2",
            GONE_FROM_HOST,
            "the guest's domain vanished from host compute-2",
        ),
    ],
)
def test_every_shape_of_an_old_message_is_split(stored: str, owner_sees: str, details: str) -> None:
    assert legacy_fault(stored) == (owner_sees, details)


# --- what the API shows whom -------------------------------------------------------------


def _row(**fields: Any) -> dict[str, Any]:
    return {"code": 500, "created": "2026-03-01T12:00:00+00:00", **fields}


def test_details_are_shown_to_admins_only() -> None:
    stored = _row(message="Build failed", details=HOST_ERROR)
    assert fault(stored, OWNER) == _row(message="Build failed")
    assert fault(stored, ADMIN) == _row(message="Build failed", details=HOST_ERROR)
    assert fault(_row(message=NO_VALID_HOST, details=""), ADMIN) == _row(message=NO_VALID_HOST)


def test_a_row_projected_before_details_shows_its_owner_the_short_part() -> None:
    stored = _row(message=V1_MESSAGE)
    assert fault(stored, OWNER) == _row(message="Build failed")
    assert fault(stored, ADMIN) == _row(message="Build failed", details=V1_MESSAGE)


# --- the compute job's failures ----------------------------------------------------------


def _building(app: CloudApp) -> UUID:
    admin = Actor("root", "admin", ("admin",), "req-r")
    project = create_project(CreateProject("alpha"), app, SYSTEM).id.hex
    owner = Actor("user-1", project, ("member",), "req-boot")
    create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), app, admin)
    register_host(RegisterHost("compute-1", 16, 65536, 1000), app, admin)
    image = Image(
        owner="admin", name="i", disk_format="qcow2", container_format="bare",
        visibility="public", min_disk=0, min_ram=0, properties={}, actor=SYSTEM,
    )  # fmt: skip
    image.record_upload("md5", "sha512", "sha", 10, SYSTEM)
    app.save(image)
    iid = boot_server(BootServer("vm", "1", str(image.id), "none"), app, owner).id
    assert claim_host(app, iid, "compute-1")
    return iid


def _failing(error: BaseException) -> Any:
    def work() -> None:
        raise error

    return work


@pytest.mark.parametrize(
    ("error", "message", "details"),
    [
        (PermanentDriverError(HOST_ERROR), "Build failed", HOST_ERROR),
        (TransientDriverError(HOST_ERROR), "Build failed after retries", HOST_ERROR),
        (ShownToOwnerError("image 1f0e has a backing file"), "Build failed: image 1f0e has a "
         "backing file", ""),
    ],
)  # fmt: skip
def test_a_driver_failure_tells_the_owner_the_step_and_admins_the_hosts_error(
    error: BaseException, message: str, details: str
) -> None:
    app = _app()
    iid = _building(app)
    assert run_or_fail(app, iid, "Build", _failing(error)) is False
    vm = app.repository.get(iid)
    assert (vm.fault["message"], vm.fault["details"]) == (message, details)


def test_an_unexpected_failure_tells_the_owner_nothing_of_it_and_is_raised() -> None:
    app = _app()
    iid = _building(app)
    with pytest.raises(KeyError):
        run_or_fail(app, iid, "Build", _failing(KeyError("/var/lib/cloudledger/secret")))
    vm = app.repository.get(iid)
    assert vm.fault["message"] == "Build failed unexpectedly"
    assert "/var/lib/cloudledger/secret" in vm.fault["details"]
