"""Crashes an operator could cause, each under load, on a stack that runs its
own PostgreSQL and Redis as `make run` does: a compute worker killed in the
middle of a spawn, redis-server killed, PostgreSQL killed. In each, every
accepted server reaches ACTIVE or ERROR within 15 s of the restart, and once
deleted, no domain or disk is left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
import redis
from psycopg.rows import dict_row
from rq.job import Job
from rq.registry import StartedJobRegistry

from e2e.helpers import (
    COMPUTE,
    HOSTS,
    Session,
    Stack,
    boot_body,
    children,
    domains_on,
    login,
    stack_with_own_servers,
    wait_for,
    wait_for_status,
    wait_until_gone,
)
from workers.routes import COMPUTE as COMPUTE_QUEUES

pytestmark = pytest.mark.e2e

CONVERGE_SECONDS = 15.0  # the bound, from the restart
RESTART_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def own() -> Iterator[Stack]:
    with stack_with_own_servers() as stack:
        yield stack


@pytest.fixture(scope="module")
def admin(own: Stack) -> Iterator[Session]:
    session = login(own, "admin", own.admin_password, "admin")
    room = {"quota_set": {"instances": 1000, "cores": 1000, "ram": 10**7}}
    assert session.client.put(f"{COMPUTE}/os-quota-sets/{session.project_id}", json=room).is_success
    yield session
    session.client.close()


@pytest.fixture(scope="module")
def image_id(admin: Session) -> str:
    images = admin.client.get("/image/v2/images", params={"name": "tiny-qcow2"}).json()["images"]
    return str(images[0]["id"])


def _restarted(stack: Stack, marker: bytes, old_pid: int) -> float:
    """Wait until the supervisor has started a new process for ``marker``."""
    wait_for(
        lambda: [p for p in children(stack.process.pid, marker) if p != old_pid],
        RESTART_TIMEOUT,
        f"a new {marker.decode()} process",
        interval=0.02,
    )
    return time.monotonic()


def _kill(stack: Stack, marker: bytes) -> int:
    (pid,) = children(stack.process.pid, marker)
    os.kill(pid, signal.SIGKILL)
    return pid


def _every_server_settles(admin: Session, since: float) -> list[dict[str, object]]:
    """Every server of the project, once each is ACTIVE or ERROR, within the bound."""

    def settled() -> list[dict[str, object]] | None:
        try:
            response = admin.client.get(f"{COMPUTE}/servers/detail")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        servers: list[dict[str, object]] = response.json()["servers"]
        done = all(
            s["status"] in ("ACTIVE", "ERROR") and s["OS-EXT-STS:task_state"] is None
            for s in servers
        )
        return servers if done else None

    servers: list[dict[str, object]] = wait_for(settled, CONVERGE_SECONDS + 10, "servers to settle")
    assert time.monotonic() - since < CONVERGE_SECONDS, "converged, but later than the bound"
    return servers


def _delete_all_and_check_hosts(stack: Stack, admin: Session) -> None:
    servers = admin.client.get(f"{COMPUTE}/servers").json()["servers"]
    for server in servers:
        assert admin.client.delete(f"{COMPUTE}/servers/{server['id']}").status_code == 204
    for server in servers:
        wait_until_gone(admin.client, server["id"])
    for host in HOSTS:
        assert domains_on(stack, host) == {}, f"domains left on {host}"
        disks = stack.state_dir / "hosts" / host / "disks"
        # An instance's disks are a directory named for it; "_" ones are caches.
        found = list(disks.iterdir()) if disks.exists() else []
        leftovers = [p.name for p in found if not p.name.startswith("_")]
        assert leftovers == [], f"disks left on {host}"


class Load:
    """Clients booting servers in the background; 202s are the accepted ones."""

    def __init__(self, stack: Stack, admin: Session, image_id: str, count: int) -> None:
        self.accepted: list[str] = []
        self.refused: list[int] = []
        self._stack, self._token, self._image = (
            stack,
            admin.client.headers["X-Auth-Token"],
            image_id,
        )
        self._pool = ThreadPoolExecutor(4)
        self._futures = [self._pool.submit(self._boot, n) for n in range(count)]

    def _boot(self, n: int) -> None:
        headers = {"X-Auth-Token": self._token, "OpenStack-API-Version": "compute 2.37"}
        try:
            response = httpx.post(
                f"{self._stack.url}{COMPUTE}/servers",
                json=boot_body(f"load-{n}", self._image),
                headers=headers,
                timeout=30,
            )
        except httpx.HTTPError:
            self.refused.append(0)
            return
        if response.status_code == 202:
            self.accepted.append(response.json()["server"]["id"])
        else:
            assert response.status_code == 503, response.text  # the database is away
            self.refused.append(response.status_code)
        time.sleep(0.05)

    def wait(self) -> None:
        for future in self._futures:
            future.result()
        self._pool.shutdown()


def test_redis_killed_under_load_is_restarted_and_everything_converges(
    own: Stack, admin: Session, image_id: str
) -> None:
    load = Load(own, admin, image_id, 40)
    wait_for(lambda: len(load.accepted) >= 10, 30, "boots before the kill")
    old = _kill(own, b"redis-server")
    restarted_at = _restarted(own, b"redis-server", old)
    load.wait()

    servers = _every_server_settles(admin, restarted_at)

    assert len(load.accepted) == 40  # the API never needs Redis to accept
    assert {s["status"] for s in servers} == {"ACTIVE"}
    _delete_all_and_check_hosts(own, admin)


def test_postgres_killed_under_load_is_restarted_and_everything_converges(
    own: Stack, admin: Session, image_id: str
) -> None:
    load = Load(own, admin, image_id, 40)
    wait_for(lambda: len(load.accepted) >= 10, 30, "boots before the kill")
    old = _kill(own, b"bin/postgres -D")
    restarted_at = _restarted(own, b"bin/postgres -D", old)
    load.wait()

    servers = _every_server_settles(admin, restarted_at)

    accepted = set(load.accepted)
    assert accepted <= {str(s["id"]) for s in servers}
    assert {s["status"] for s in servers} == {"ACTIVE"}
    _delete_all_and_check_hosts(own, admin)


@contextlib.contextmanager
def stalled_image_data(stack: Stack, image_id: str) -> Iterator[None]:
    """The image store hangs: reading the image's data blocks until the end
    of the block, then the real data is served again."""
    path = stack.state_dir / "images" / image_id
    data = path.read_bytes()
    path.unlink()
    os.mkfifo(path)  # opening it for reading blocks until a writer comes
    try:
        yield
    finally:
        # Release whoever is blocked opening the fifo (they read an empty
        # file), then put the real data back under the same name.
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        tmp = path.with_name(f".{image_id}.restore")
        tmp.write_bytes(data)
        os.replace(tmp, path)


def _spawn_started(stack: Stack, host: str, server_id: str) -> bool:
    """Whether a batch job carrying this server's spawn is running on the host."""
    client = redis.Redis.from_url(stack.redis_url)
    try:
        started = StartedJobRegistry(COMPUTE_QUEUES.queue(host), connection=client)
        jobs = [Job.fetch(job_id, connection=client) for job_id in started.get_job_ids()]
        return any(["instance.spawn", server_id] in job.args[1] for job in jobs)
    finally:
        client.close()


def test_a_compute_worker_killed_mid_spawn_converges_after_its_restart(
    own: Stack, admin: Session, image_id: str
) -> None:
    # An image no host has cached yet, so the spawn fetches it from the store.
    data = admin.client.get(f"/image/v2/images/{image_id}/file").content
    created = admin.client.post("/image/v2/images", json={"name": "slow", "disk_format": "qcow2"})
    fresh = created.json()["id"]
    upload = admin.client.put(
        f"/image/v2/images/{fresh}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 204, upload.text

    with stalled_image_data(own, fresh):
        response = admin.client.post(f"{COMPUTE}/servers", json=boot_body("midway", fresh))
        assert response.status_code == 202, response.text
        server_id = response.json()["server"]["id"]

        def host() -> str | None:
            shown = admin.client.get(f"{COMPUTE}/servers/{server_id}").json()["server"]
            return shown["OS-EXT-SRV-ATTR:host"]

        name = wait_for(host, 15, "the server to be scheduled")
        wait_for(lambda: _spawn_started(own, name, server_id), 15, "the spawn to start")
        time.sleep(0.5)  # the spawn is blocked on the image data, in the worker
        old = _kill(own, f"worker compute --host {name}".encode())
    restarted_at = _restarted(own, f"worker compute --host {name}".encode(), old)

    try:
        server = wait_for_status(
            admin.client, server_id, {"ACTIVE", "ERROR"}, CONVERGE_SECONDS + 10
        )
    except BaseException:
        print(own.logs_tail(60))  # pytest shows it with the failure
        raise
    assert time.monotonic() - restarted_at < CONVERGE_SECONDS
    assert server["status"] == "ACTIVE", server.get("fault")
    assert list(domains_on(own, name)) == [f"instance-{server_id}"]
    _delete_all_and_check_hosts(own, admin)


def _events(stack: Stack, topic_end: str, originator: str) -> list[dict[str, object]]:
    with psycopg.connect(stack.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT originator_version, state FROM cloudledger_events"
            " WHERE originator_id = %s AND topic LIKE %s ORDER BY notification_id",
            (originator, f"%:{topic_end}"),
        ).fetchall()


def _task_state(admin: Session, server_id: str) -> object:
    return admin.client.get(f"{COMPUTE}/servers/{server_id}").json()["server"][
        "OS-EXT-STS:task_state"
    ]


def test_a_snapshot_whose_processes_are_killed_between_its_two_steps_ends_once(
    own: Stack, admin: Session, image_id: str
) -> None:
    """createImage is two steps across two aggregates: the host uploads the
    root disk (the image's Uploaded), then a worker ends the instance's task.
    Between them the relay, the worker owed the second step and the host's
    worker are SIGKILLed and Redis is flushed: after their restarts the
    snapshot ends, once, and the disk is not uploaded again."""
    response = admin.client.post(f"{COMPUTE}/servers", json=boot_body("snapped", image_id))
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    server = wait_for_status(admin.client, server_id, {"ACTIVE"}, 30)
    host = server["OS-EXT-SRV-ATTR:host"]
    # The second step runs on the scheduler's queue: its worker is frozen, so
    # nothing takes that step until the kill.
    (scheduler,) = children(own.process.pid, b"worker scheduler")
    os.kill(scheduler, signal.SIGSTOP)
    try:
        asked = admin.client.post(
            f"{COMPUTE}/servers/{server_id}/action",
            json={"createImage": {"name": "between"}},
            headers={"OpenStack-API-Version": "compute 2.45"},
        )
        assert asked.status_code == 202, asked.text
        snapshot = asked.json()["image_id"]

        def uploaded() -> bool:
            shown = admin.client.get(f"/image/v2/images/{snapshot}").json()
            return shown["status"] == "active"

        wait_for(uploaded, 30, "the host to upload the snapshot")  # step 1 is done
        time.sleep(0.5)  # the relay has seen the upload and owes step 2
        assert _task_state(admin, server_id) == "image_snapshot"  # step 2 is not
        relay = _kill(own, b"ops.cli relay")
        compute = _kill(own, f"worker compute --host {host}".encode())
        redis.Redis.from_url(own.redis_url).flushall()  # what was queued is lost
    finally:
        os.kill(scheduler, signal.SIGKILL)
    for marker, old in ((b"ops.cli relay", relay), (b"worker scheduler", scheduler)):
        restarted_at = _restarted(own, marker, old)
    _restarted(own, f"worker compute --host {host}".encode(), compute)

    wait_for(lambda: _task_state(admin, server_id) is None, CONVERGE_SECONDS + 10, "the end")

    assert time.monotonic() - restarted_at < CONVERGE_SECONDS
    assert len(_events(own, "Image.Uploaded", snapshot)) == 1  # uploaded once
    (done,) = _events(own, "Instance.SnapshotDone", server_id)  # ended once
    assert json.loads(bytes(done["state"]))["succeeded"] is True  # type: ignore[arg-type]
    shown = admin.client.get(f"{COMPUTE}/servers/{server_id}").json()["server"]
    assert shown["status"] == "ACTIVE"
    assert admin.client.get(f"/image/v2/images/{snapshot}").json()["status"] == "active"
    _delete_all_and_check_hosts(own, admin)
