"""Session-wide private PostgreSQL and Redis servers, started by the tests."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
import redis

from ops.guest_disk import ensure_whole_disk
from ops.guest_images import GuestImages, ensure_guest_images
from ops.ports import free_port
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis
from workers.drivers.embedded_qemu import open_embedded_qemu


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    """A directory for the session's servers, removed at the end."""
    # Not tmp_path_factory: its directories are mode 0700 root, which the
    # postgres user cannot enter.
    path = Path(tempfile.mkdtemp(prefix="cloudledger-tests-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path, removed after the test: for sockets, whose
    paths must fit in 107 bytes where pytest's tmp_path often does not (a
    connector given a longer root falls back to a folder of /tmp that no
    test would remove)."""
    path = Path(tempfile.mkdtemp(prefix="cl-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster(services_dir: Path) -> Iterator[PrivateCluster]:
    """A throw-away PostgreSQL 15 cluster (fsync off) for the whole session."""
    cluster = PrivateCluster(services_dir / "postgres", free_port(), fast=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_server(services_dir: Path) -> Iterator[PrivateRedis]:
    """A private redis-server for the whole session."""
    server = PrivateRedis(services_dir / "redis", free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: PrivateRedis) -> str:
    """URL of the session's Redis, emptied (FLUSHALL) for this test."""
    client = redis.Redis.from_url(redis_server.url())
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url()


@pytest.fixture(scope="session")
def template_database(pg_cluster: PrivateCluster) -> str:
    """A database with every table created once; tests get copies of it."""
    from ops.schema import create_schema

    name = "cloudledger_template"
    pg_cluster.create_database(name)
    create_schema(pg_cluster.url(name))
    return name


_database_counter = itertools.count()


@pytest.fixture
def database_url(pg_cluster: PrivateCluster, template_database: str) -> Iterator[str]:
    """A fresh database (a copy of the template) for this test, dropped after."""
    name = f"test_{os.getpid()}_{next(_database_counter)}"
    pg_cluster.create_database(name, template=template_database)
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)


@pytest.fixture(scope="session")
def guest_images(services_dir: Path) -> GuestImages:
    """The kernel and initramfs real guests boot (built once per session)."""
    return ensure_guest_images(services_dir / "guest-images")


@pytest.fixture(scope="session")
def whole_disk(services_dir: Path, guest_images: GuestImages) -> Path:
    """The same guest as one bootable disk (BIOS and UEFI), built once."""
    return ensure_whole_disk(services_dir / "guest-images", guest_images)


@pytest.fixture(scope="session")
def qemu_conn(services_dir: Path) -> Iterator[libvirt.virConnect]:
    """One per process: the embedded driver serves a single root per process."""
    conn = open_embedded_qemu(services_dir / "qemu")
    yield conn
    conn.close()
