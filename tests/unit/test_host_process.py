"""One worker process per compute host serves both its compute queue and its
network queue (Role.joins): `cloudledger run` starts no network worker of
its own per host, and each queue's jobs get their own role's context."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import get_type_hints

import pytest

from commands.app import CloudApp
from commands.bootstrap import Settings
from ops import cli
from ops.run import _children
from workers import bootstrap, routes
from workers.declarations import Role
from workers.drivers.fake_disks import FakeDiskStore
from workers.drivers.fake_hypervisor import FakeHypervisor
from workers.drivers.fake_network import fake_network_drivers
from workers.drivers.image_cache import DirectoryImageCache, Sink
from workers.jobs.entry import handler, resolve
from workers.jobs.network_context import NetworkContext
from workers.resources.instance import COMPUTE, SCHEDULER
from workers.resources.network import NETWORK
from workers.runtime import ComputeContext, LedgerContext

HOST = "compute-1"


def _no_fetch(image_id: str, out: Sink) -> None:
    raise AssertionError(f"nothing here fetches {image_id}")


def _contexts(tmp_path: Path) -> dict[type, LedgerContext]:
    """A compute host's two contexts, in memory, by the type each is."""
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    disks = tmp_path / "disks"
    compute = ComputeContext(
        app, HOST, FakeHypervisor(), FakeDiskStore(disks), _no_fetch, DirectoryImageCache(disks)
    )
    network = NetworkContext(app, HOST, fake_network_drivers("10.0.0.1"))
    return {ComputeContext: compute, NetworkContext: network}


class AsAnnotated:
    """Builds each role's context as its real builder is annotated to: the
    in-memory context of that type."""

    def __init__(self, made: dict[type, LedgerContext]) -> None:
        self.made, self.calls = made, Counter[str]()

    def __call__(self, role: Role) -> object:
        self.calls[role.name] += 1
        return self.made[get_type_hints(resolve(role.build))["return"]]


def test_a_compute_host_process_serves_its_network_queue_with_the_network_context(
    tmp_path: Path,
) -> None:
    made = _contexts(tmp_path)
    build = AsAnnotated(made)
    contexts = bootstrap.host_contexts(routes.ROUTING.role("compute"), HOST, build)

    assert list(contexts) == [f"compute.{HOST}", f"network.{HOST}"]  # its own queue first
    assert contexts[f"network.{HOST}"] is made[NetworkContext]
    compute = contexts[f"compute.{HOST}"]
    assert isinstance(compute, ComputeContext)
    assert compute.neighbours == (made[NetworkContext],)
    own = made[ComputeContext]
    assert isinstance(own, ComputeContext)
    assert compute.hypervisor is own.hypervisor  # the host's own drivers, with neighbours
    assert build.calls == {"compute": 1, "network": 1}


def test_every_job_of_the_host_process_gets_the_context_it_is_annotated_for(
    tmp_path: Path,
) -> None:
    build = AsAnnotated(_contexts(tmp_path))
    contexts = bootstrap.host_contexts(routes.ROUTING.role("compute"), HOST, build)
    served = [r for r in routes.ROUTES if r.family.queue(HOST) in contexts]
    assert {r.family for r in served} == {COMPUTE, NETWORK}
    for route in served:
        needed = handler(route.kind).context
        assert isinstance(contexts[route.family.queue(HOST)], needed), route.kind


def test_a_role_nothing_joins_serves_its_own_queue_alone() -> None:
    own = LedgerContext(CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))
    contexts = bootstrap.host_contexts(routes.ROUTING.role("scheduler"), None, lambda r: own)
    assert list(contexts) == ["scheduler"]
    assert contexts["scheduler"] is own


def test_a_context_that_cannot_take_neighbours_while_a_role_joins_it_stops_the_start() -> None:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    roles = [Role(SCHEDULER, "x:y"), Role(NETWORK, "x:z", joins=SCHEDULER)]
    with pytest.raises(TypeError, match="LedgerContext has no with_neighbours, yet network"):
        bootstrap.host_contexts(roles[0], None, lambda r: LedgerContext(app), roles)


def test_a_joined_role_has_no_process_of_its_own_in_cloudledger_run(tmp_path: Path) -> None:
    settings = Settings.from_env({"CLOUDLEDGER_STATE_DIR": str(tmp_path)})
    names = [child.name for child in _children(settings, ["compute-1", "compute-2"], {})]
    assert names == [
        "projector",
        "relay",
        "scheduler",
        "compute@compute-1",
        "compute@compute-2",
        "network_node",
        "volume",
        "api",
    ]


def test_a_joined_role_run_alone_is_refused_with_the_command_that_serves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env({"CLOUDLEDGER_STATE_DIR": str(tmp_path)})
    args = cli.parser().parse_args(["worker", "network", "--host", HOST])
    assert cli._worker(settings, args) == 2
    assert "cloudledger worker compute --host compute-1" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="cloudledger worker compute --host compute-1"):
        bootstrap.serve(routes.ROUTING.role("network"), settings, HOST)
