"""Helpers of the end-to-end tests: start and stop the stack, log in, poll the
API, and look at what an operator sees (hypervisor domains, disks, tables)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg.rows import dict_row
from rq import Queue

from commands.bootstrap import Settings, build_services
from commands.identity import CreateProject, CreateUser
from domain.values import SYSTEM
from ops.ports import free_port
from ops.postgres import PrivateCluster
from workers.drivers.embedded_qemu import embedded_root

REPO = Path(__file__).resolve().parents[2]
COMPUTE = "/compute/v2.1"
MICROVERSION = {"OpenStack-API-Version": "compute 2.37"}
HOSTS = ("compute-1", "compute-2")
# A stack is ten Python processes importing at once: on 2 cores under load
# (two xdist workers, each starting stacks) that has taken over a minute.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
JOB_TIMEOUT = 10.0
POLL = 0.05


@dataclass(frozen=True)
class Stack:
    """A running `cloudledger run`: where it listens and keeps its state."""

    url: str
    database_url: str
    redis_url: str
    state_dir: Path
    admin_password: str
    process: subprocess.Popen[bytes]

    def settings(self) -> Settings:
        return Settings(
            state_dir=self.state_dir,
            database_url=self.database_url,
            redis_url=self.redis_url,
            api_port=int(self.url.rsplit(":", 1)[1]),
            admin_password=self.admin_password,
        )

    def logs_tail(self, lines: int = 30) -> str:
        """The end of `cloudledger run`'s output and of every child's log."""
        output = self.state_dir / "run.out"
        parts = [f"--- run output\n{output.read_text(errors='replace')[-3000:]}"]
        for log in sorted((self.state_dir / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)


@contextlib.contextmanager
def running_stack(
    pg_cluster: PrivateCluster,
    template_database: str,
    redis_url: str,
    flush: str,
    settings: dict[str, str] | None = None,
    hosts: int = len(HOSTS),
) -> Iterator[Stack]:
    """`cloudledger run --hosts N` on a fresh copy of the template database,
    with its state in a fresh directory; stopped by SIGTERM on exit, after which
    none of its processes may remain. ``flush``: "all" (FLUSHALL) or "db"
    (FLUSHDB, for a second stack on another database number of the same Redis).
    ``settings``: more CLOUDLEDGER_* variables for the stack. ``hosts``: 1 for
    a module that never needs a second host (two fewer processes to start)."""
    name = f"e2e_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    pg_cluster.create_database(name, template=template_database)
    client = redis.Redis.from_url(redis_url)
    try:
        if flush == "all":
            client.flushall()
        else:
            client.flushdb()
    finally:
        client.close()
    # Not pytest's tmp_path: a 0700 directory the postgres user could not enter.
    state_dir = Path(tempfile.mkdtemp(prefix="cloudledger-e2e-"))
    state_dir.chmod(0o755)
    port = free_port()
    password = f"pw-{uuid.uuid4().hex[:12]}"
    servers = {**servers_env(pg_cluster.url(name), redis_url), **(settings or {})}
    process = start_run(servers, state_dir, port, password, hosts)
    url = f"http://127.0.0.1:{port}"
    stack = Stack(url, pg_cluster.url(name), redis_url, state_dir, password, process)
    try:
        wait_until_up(stack)
        yield stack
    finally:
        leftovers = stop_process(process)
        pg_cluster.drop_database(name)
        remove_state(state_dir)
    assert not leftovers, f"processes outlived `cloudledger run` after SIGTERM: {leftovers}"


def remove_state(state_dir: Path) -> None:
    """The stack's state, and the short folders its hosts' embedded QEMU
    drivers were given instead of a path too long for their sockets."""
    for host in (state_dir / "hosts").glob("*"):
        shutil.rmtree(embedded_root(host / "qemu"), ignore_errors=True)
    shutil.rmtree(state_dir, ignore_errors=True)


def servers_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Settings for a stack on servers that the tests started."""
    return {"CLOUDLEDGER_DATABASE_URL": database_url, "CLOUDLEDGER_REDIS_URL": redis_url}


def start_run(
    server_env: dict[str, str], state_dir: Path, port: int, password: str, hosts: int = len(HOSTS)
) -> subprocess.Popen[bytes]:
    """`cloudledger run --hosts N` with the given servers, state and port."""
    env = {
        **os.environ,
        **server_env,
        "CLOUDLEDGER_STATE_DIR": str(state_dir),
        "CLOUDLEDGER_PORT": str(port),
        "CLOUDLEDGER_ADMIN_PASSWORD": password,
        "PYTHONUNBUFFERED": "1",
    }
    with (state_dir / "run.out").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "run", "--hosts", str(hosts)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for a last-resort kill
        )


@contextlib.contextmanager
def stack_with_own_servers() -> Iterator[Stack]:
    """`cloudledger run --hosts 2` that starts and supervises its own
    PostgreSQL and Redis, as `make run` does, for tests that kill them."""
    state_dir = Path(tempfile.mkdtemp(prefix="cloudledger-e2e-own-"))
    state_dir.chmod(0o755)  # the postgres user must reach its data dir
    port, pg_port, redis_port = free_port(), free_port(), free_port()
    password = f"pw-{uuid.uuid4().hex[:12]}"
    own = {"CLOUDLEDGER_PG_PORT": str(pg_port), "CLOUDLEDGER_REDIS_PORT": str(redis_port)}
    process = start_run(own, state_dir, port, password)
    try:
        stack = Stack(
            f"http://127.0.0.1:{port}",
            f"postgresql://postgres@127.0.0.1:{pg_port}/cloudledger",
            f"redis://127.0.0.1:{redis_port}/0",
            state_dir,
            password,
            process,
        )
        wait_until_up(stack)
        yield stack
    finally:
        leftovers = stop_process(process)
        remove_state(state_dir)
    assert not leftovers, f"processes outlived `cloudledger run` after SIGTERM: {leftovers}"


def children(parent: int, marker: bytes) -> list[int]:
    """PIDs of the live children of ``parent`` whose command line contains ``marker``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z" and marker in cmdline:
            found.append(int(stat.parent.name))
    return found


def wait_until_up(stack: Stack) -> None:
    """Until the API answers and clouds.yaml is written; fail with the logs if not."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(
                f"cloudledger run exited ({stack.process.returncode}):\n{stack.logs_tail()}"
            )
        try:
            response = httpx.get(f"{stack.url}/identity/v3", timeout=1)
            if response.status_code == 200 and (stack.state_dir / "clouds.yaml").exists():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the API did not answer within {START_TIMEOUT} s:\n{stack.logs_tail()}")


def stop_process(process: subprocess.Popen[bytes]) -> list[int]:
    """SIGTERM (the supervisor stops its children), then kill its group if stuck.

    Returns the PIDs of the group that outlived a clean stop (killed here)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # Started with start_new_session: the group id is the run process's PID.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    leftovers = group_members(process.pid)
    if leftovers:
        os.killpg(process.pid, signal.SIGKILL)
    return leftovers


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


# -- identity ---------------------------------------------------------------


def auth_body(user: str, password: str, project: str) -> dict[str, Any]:
    default = {"name": "Default"}
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": default, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": default}},
        }
    }


@dataclass
class Session:
    """An authenticated httpx client and who it is."""

    client: httpx.Client
    user_id: str
    project_id: str


def login(stack: Stack, user: str, password: str, project: str) -> Session:
    """A password token scoped to ``project``, on a client that sends it."""
    response = httpx.post(
        f"{stack.url}/identity/v3/auth/tokens", json=auth_body(user, password, project), timeout=10
    )
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    client = httpx.Client(
        base_url=stack.url,
        headers={"X-Auth-Token": response.headers["X-Subject-Token"], **MICROVERSION},
        timeout=30,
    )
    return Session(client, token["user"]["id"], token["project"]["id"])


@dataclass(frozen=True)
class Member:
    """Credentials of a member user in a project of its own."""

    user: str
    password: str
    project: str


def create_member(stack: Stack, prefix: str = "e2e") -> Member:
    """A fresh project and a user with the member role in it (command side)."""
    suffix = uuid.uuid4().hex[:8]
    member = Member(f"{prefix}-user-{suffix}", f"pw-{suffix}", f"{prefix}-project-{suffix}")
    services = build_services(stack.settings(), pool_size=1)
    try:
        services.create_project(CreateProject(member.project), SYSTEM)
        services.create_user(
            CreateUser(member.user, member.password, member.project, ("member",)), SYSTEM
        )
    finally:
        services.app.close()
    return member


# -- compute ----------------------------------------------------------------


def boot_body(name: str, image_id: str, flavor: str = "1") -> dict[str, Any]:
    return {"server": {"name": name, "imageRef": image_id, "flavorRef": flavor, "networks": "none"}}


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = POLL) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_for_status(
    client: httpx.Client, server_id: str, statuses: Iterable[str], timeout: float = 20.0
) -> dict[str, Any]:
    """The server once its status is one of ``statuses`` (and no task runs)."""
    wanted = set(statuses)
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        response = client.get(f"{COMPUTE}/servers/{server_id}")
        assert response.status_code == 200, response.text
        server: dict[str, Any] = response.json()["server"]
        last.update(server)
        settled = server["OS-EXT-STS:task_state"] is None
        return server if server["status"] in wanted and settled else None

    deadline = time.monotonic() + timeout
    while True:
        server = check()
        if server:
            return server
        if time.monotonic() > deadline:
            pytest.fail(
                f"server {server_id} not in {sorted(wanted)} after {timeout} s: "
                f"status {last.get('status')}, task {last.get('OS-EXT-STS:task_state')}, "
                f"fault {last.get('fault')}"
            )
        time.sleep(POLL)


def wait_until_gone(client: httpx.Client, server_id: str, timeout: float = 20.0) -> None:
    wait_for(
        lambda: client.get(f"{COMPUTE}/servers/{server_id}").status_code == 404,
        timeout,
        f"server {server_id} to be deleted",
    )


def quota_usage(admin: Session, project_id: str) -> dict[str, int]:
    response = admin.client.get(f"{COMPUTE}/os-quota-sets/{project_id}/detail")
    assert response.status_code == 200, response.text
    body = response.json()["quota_set"]
    return {r: body[r]["in_use"] for r in ("instances", "cores", "ram")}


# -- operator views -----------------------------------------------------------


def hosts_table(stack: Stack) -> dict[str, dict[str, Any]]:
    """The hosts read model, by host name."""
    with psycopg.connect(stack.database_url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM hosts ORDER BY name").fetchall()
    return {row["name"]: dict(row) for row in rows}


def host_usage(stack: Stack) -> dict[str, tuple[int, int, int, int]]:
    return {
        name: (r["vcpus_used"], r["ram_mb_used"], r["disk_gb_used"], r["running_vms"])
        for name, r in hosts_table(stack).items()
    }


def last_notification_id(stack: Stack) -> int:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM cloudledger_events").fetchone()
    assert row is not None
    return int(row[0] or 0)


def domains_on(stack: Stack, host: str, timeout: float = JOB_TIMEOUT) -> dict[str, dict[str, Any]]:
    """The domains in ``host``'s libvirt connection, by name, asked of its worker."""
    connection = redis.Redis.from_url(stack.redis_url)
    try:
        job = Queue(f"compute.{host}", connection=connection).enqueue(
            "workers.jobs.compute.list_domains", result_ttl=60, ttl=int(timeout) + 5
        )

        def finished() -> bool:
            status = job.get_status(refresh=True)
            assert status != "failed", f"list_domains failed on {host}: {job.latest_result()}"
            return status == "finished"

        wait_for(finished, timeout, f"list_domains on {host}", interval=0.02)
        domains: list[dict[str, Any]] = job.return_value(refresh=True) or []
    finally:
        connection.close()
    return {d["name"]: d for d in domains}


def disk_dir(stack: Stack, host: str, server_id: str) -> Path:
    return stack.state_dir / "hosts" / host / "disks" / server_id
