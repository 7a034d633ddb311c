"""Network requests in the PostgreSQL ledger: a boot's "none" or "auto" is
stored as a list of requests (Instance.Requested version 4), and an event
stored as version 3 (networks a string) is read by the repository, the
servers projection, billing and `audit verify`, as the events after it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from eventsourcing.persistence import StoredEvent
from helpers import TINY, Cloud, build_cloud, es_env
from starlette.applications import Starlette

from api.context import ApiState
from commands.servers import BootServer
from domain.metering import usage_lines
from domain.values import Actor, NetworkRequest
from ops.billing_replay import replay
from ops.cli import main
from projections.bootstrap import Projector, build_group, build_view, postgres_recorder
from projections.group import ViewGroup
from projections.servers import ServersView

INSTANCE_ID = "0b5c2b5e-7f4e-4d2b-9c7a-3e2f8f1d6a01"
# As version 3 stored it (captured before version 4; never regenerate it).
STORED_V3 = (Path(__file__).parent.parent / "data" / "instance_requested_v3.json").read_bytes()
USER = Actor("user-1", "project-1", ("member",), "req-boot")


@pytest.fixture
def cloud(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    monkeypatch.setenv("CLOUDLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("CLOUDLEDGER_STATE_DIR", str(tmp_path))
    cloud = build_cloud(database_url, tmp_path / "images")
    recorder = postgres_recorder(cloud.app)
    # Through the ledger's own append, so the hash chain covers the old bytes.
    recorder.insert_events(
        [StoredEvent(INSTANCE_ID, 1, "domain.instance:Instance.Requested", STORED_V3)]
    )
    vm = cloud.app.repository.get(INSTANCE_ID)
    vm.schedule_on("compute-1", USER.as_service("scheduler"))
    vm.mark_spawned(USER.as_service("compute"), now=datetime.now(UTC))
    cloud.app.save(vm)
    yield cloud
    cloud.app.close()


def test_the_repository_loads_it(cloud: Cloud) -> None:
    vm = cloud.app.repository.get(INSTANCE_ID)
    assert vm.networks == [NetworkRequest(auto_allocate=True)]
    assert (vm.name, vm.host, vm.vm_state) == ("web", "compute-1", "active")


def test_the_servers_projection_reads_it(cloud: Cloud) -> None:
    view = build_view(ServersView, es_env(cloud.database_url))
    try:
        Projector(cloud.app, ViewGroup(view.datastore, [view]), cloud.database_url).catch_up()
        row = view.get(INSTANCE_ID)
    finally:
        view.datastore.close()
    assert row is not None
    assert (row["name"], row["vm_state"], row["host"]) == ("web", "active", "compute-1")


def test_billing_meters_it(cloud: Cloud) -> None:
    start, stop = datetime(2026, 1, 1, tzinfo=UTC), datetime.now(UTC)
    done = replay(postgres_recorder(cloud.app), cloud.app.mapper, start, stop)
    lines = [line for line in usage_lines(done.metering, stop) if line.resource_id == INSTANCE_ID]
    assert [(line.product, line.state) for line in lines] == [("m1.tiny", "active")]


def test_audit_verify_decodes_it(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify"]) == 0
    assert "the ledger matches what was appended" in capsys.readouterr().out


@pytest.mark.parametrize(("asked", "stored"), [("none", []), ("auto", [{"auto_allocate": True}])])
def test_a_boot_stores_its_networks_as_requests(
    cloud: Cloud, asked: str, stored: list[dict[str, bool]]
) -> None:
    receipt = cloud.services.boot_server(
        BootServer("vm", TINY, cloud.image_id, asked), cloud.member
    )
    vm = cloud.app.repository.get(receipt.id)
    assert vm.networks == [NetworkRequest(**request) for request in stored]


def test_the_api_boots_with_none_or_auto_and_refuses_a_list_for_now(
    cloud: Cloud, api: tuple[Starlette, ApiState]
) -> None:
    app, api_state = api
    token, _ = api_state.tokens.issue("user-demo", "alice", cloud.project_id, "demo", ("member",))

    def server(networks: object) -> dict[str, object]:
        return {"name": "vm", "imageRef": cloud.image_id, "flavorRef": TINY, "networks": networks}

    async def boot_each(*asked: object) -> list[httpx.Response]:
        # httpx's ASGI transport runs no lifespan: open what it would.
        await api_state.reads.open()
        await api_state.progress.start(wait_ready=5.0)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return [
                    await client.post(
                        "/compute/v2.1/servers",
                        json={"server": server(networks)},
                        headers={"X-Auth-Token": token},
                    )
                    for networks in asked
                ]
        finally:
            await api_state.progress.stop()
            await api_state.reads.close()

    # The API answers once the read models show the boot: a projector runs meanwhile.
    group, stop = build_group(es_env(cloud.database_url)), threading.Event()
    projector = Projector(api_state.services.app, group, cloud.database_url)
    projecting = threading.Thread(target=projector.run, args=(stop,), name="projector")
    projecting.start()
    try:
        none, auto, listed = asyncio.run(
            boot_each("none", "auto", [{"uuid": "0b5c2b5e-7f4e-4d2b-9c7a-3e2f8f1d6a09"}])
        )
    finally:
        stop.set()
        projecting.join()
        group.datastore.close()
    for answer, stored in ((none, []), (auto, [NetworkRequest(auto_allocate=True)])):
        assert answer.status_code == 202, answer.text
        assert cloud.app.repository.get(answer.json()["server"]["id"]).networks == stored
    assert listed.status_code == 400, listed.text
