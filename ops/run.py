"""`cloudledger run`: the whole control plane on one machine, in the foreground."""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from commands.bootstrap import Settings, build_services
from commands.catalog import RegisterHost
from ops.guest_disk import ensure_whole_disk
from ops.guest_images import ensure_guest_images
from ops.ports import port_is_free
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis
from ops.schema import create_schema
from ops.seed import seed, seed_disk_images, seed_guest_images
from ops.service_users import ensure_service_users
from ops.stack import Child, NetworkTopology, Restartable, Supervisor, child_env, python_child
from ops.volume_storage import storage_env, supervised_tgtd, tgtd_config
from workers import routes
from workers.drivers.test_node import write_test_node
from workers.roles.network import topology

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostShape:
    """What each simulated compute host offers (before allocation ratios)."""

    vcpus: int = 16
    ram_gb: int = 64
    disk_gb: int = 1024


def host_names(count: int) -> list[str]:
    return [f"compute-{n}" for n in range(1, count + 1)]


def prepare_hosts(
    settings: Settings, names: list[str], shape: HostShape = HostShape()
) -> list[RegisterHost]:
    """Each simulated host: a libvirt test-driver node file of its own size."""
    for name in names:
        node = settings.state_dir / "hosts" / name / "node.xml"
        node.parent.mkdir(parents=True, exist_ok=True)
        write_test_node(node, cpus=shape.vcpus, memory_mb=shape.ram_gb * 1024)
    return [RegisterHost(n, shape.vcpus, shape.ram_gb * 1024, shape.disk_gb) for n in names]


def write_clouds_yaml(settings: Settings) -> Path:
    path = settings.state_dir / "clouds.yaml"
    path.write_text(
        "clouds:\n"
        "  cloudledger:\n"
        "    auth:\n"
        f"      auth_url: {settings.api_url}/identity/v3\n"
        "      username: admin\n"
        f"      password: {settings.admin_password}\n"
        "      project_name: admin\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        "    region_name: RegionOne\n"
        "    identity_api_version: 3\n"
    )
    path.chmod(0o600)  # it holds the admin password, like devstack's
    return path


def run(hosts: int, environ: dict[str, str], shape: HostShape = HostShape()) -> int:
    settings = Settings.from_env(environ)
    if not port_is_free(settings.api_port):
        print(
            f"cloudledger: port {settings.api_port} on 127.0.0.1 is in use "
            "(another cloudledger run?); stop it or set CLOUDLEDGER_PORT"
        )
        return 1
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    settings.state_dir.chmod(0o755)  # the postgres user must reach its data dir
    extra: dict[str, str] = {"CLOUDLEDGER_STATE_DIR": str(settings.state_dir)}
    servers: list[Restartable] = []
    cluster = None
    if "CLOUDLEDGER_DATABASE_URL" not in environ:
        cluster = PrivateCluster(settings.state_dir / "postgres", settings.private_pg_port)
        servers.append(cluster)
        extra["CLOUDLEDGER_DATABASE_URL"] = cluster.url("cloudledger")
    if "CLOUDLEDGER_REDIS_URL" not in environ:
        redis = PrivateRedis(settings.state_dir / "redis", settings.private_redis_port)
        servers.append(redis)
        extra["CLOUDLEDGER_REDIS_URL"] = redis.url()
    settings = Settings.from_env({**environ, **extra})
    # The storage host's tgtd, given back the ledger's exports at each start.
    storage = tgtd_config(settings)
    servers.append(supervised_tgtd(settings, storage))
    extra.update(storage_env(storage))
    names = host_names(hosts)
    # Every network worker learns the hosts in one order: their underlay addresses follow it.
    extra["CLOUDLEDGER_NETWORK_HOSTS"] = ",".join(names)
    settings = Settings.from_env({**environ, **extra})
    if settings.network_driver == "linux":  # made first, removed last
        servers.insert(0, NetworkTopology(topology(settings)))
    supervisor = Supervisor(_children(settings, names, child_env(extra)), servers)
    try:
        supervisor.start(supervisor.servers)
        if cluster is not None:
            cluster.ensure_database("cloudledger")
        prepare_ledger(settings, names, shape)
        signal.signal(signal.SIGINT, supervisor.request_stop)
        signal.signal(signal.SIGTERM, supervisor.request_stop)
        supervisor.start(supervisor.children)
        _announce(settings, write_clouds_yaml(settings))
        supervisor.watch()
        return 0
    finally:
        supervisor.stop_all()
        print("cloudledger: stopped")


def prepare_ledger(settings: Settings, names: list[str], shape: HostShape) -> None:
    """Every table, the token key and the first-start seed."""
    create_schema(settings.database_url)
    settings.token_key()  # before any child needs it
    services = build_services(settings, pool_size=2)
    created = seed(services, settings.admin_password, prepare_hosts(settings, names, shape))
    created += ensure_service_users(services, settings, [r.name for r in routes.ROLES])
    if settings.hypervisor == "qemu":
        images = ensure_guest_images(settings.guest_image_dir)
        created += seed_guest_images(services, images, settings.guest_image_dir / "seeded")
        disk = ensure_whole_disk(settings.guest_image_dir, images)
        created += seed_disk_images(services, disk, settings.guest_image_dir / "seeded-disks")
    services.app.close()
    print(f"cloudledger: seeded {', '.join(created) or 'nothing (state reused)'}")


def _children(settings: Settings, names: list[str], env: dict[str, str]) -> list[Child]:
    logs = settings.state_dir / "logs"
    logs.mkdir(exist_ok=True)
    children = [
        python_child("projector", ["projector"], env, logs),
        python_child("relay", ["relay"], env, logs),
    ]
    for role in routes.ROLES:  # one worker per role, or per role and host
        if role.joins is not None:
            continue  # the process of the role it joins serves its queue
        if role.per_host:
            children += [
                python_child(f"{role.name}@{n}", ["worker", role.name, "--host", n], env, logs)
                for n in names
            ]
        else:
            children.append(python_child(role.name, ["worker", role.name], env, logs))
    children.append(python_child("api", ["api"], env, logs))
    return children


def _announce(settings: Settings, clouds: Path) -> None:
    url = f"{settings.api_url}/identity/v3"
    for _ in range(100):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    print(
        f"cloudledger: API on {settings.api_url}, logs in {settings.state_dir / 'logs'}\n"
        f"  export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD=cloudledger\n"
        "  openstack server create --flavor m1.tiny --image tiny-qcow2 --nic none --wait vm1\n"
        "Ctrl-C stops everything; the ledger survives restarts.",
        flush=True,
    )


def main_run(hosts: int, shape: HostShape) -> int:
    return run(hosts, dict(os.environ), shape)
