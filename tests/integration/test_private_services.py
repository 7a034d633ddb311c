"""The private PostgreSQL and Redis servers that the test suite starts itself."""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from ops.ports import free_port
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis


def _unique(prefix: str) -> str:
    # Other tests share the session cluster: never collide with their names.
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port that something else already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_cluster_accepts_connections_over_tcp(pg_cluster: PrivateCluster) -> None:
    with psycopg.connect(pg_cluster.url("postgres")) as conn:
        row = conn.execute(
            "SELECT current_user, current_setting('server_version_num')::int,"
            " host(inet_server_addr()), inet_server_port()"
        ).fetchone()
    assert row is not None
    user, version, address, port = row
    assert (user, address, port) == ("postgres", "127.0.0.1", pg_cluster.port)
    assert 150000 <= version < 160000


def test_test_cluster_trades_durability_for_speed(pg_cluster: PrivateCluster) -> None:
    with psycopg.connect(pg_cluster.url("postgres")) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("fsync", "synchronous_commit", "full_page_writes")
        }
        max_connections = conn.execute("SHOW max_connections").fetchone()
    assert settings == {name: ("off",) for name in settings}
    assert max_connections == ("200",)


def test_ensure_and_drop_database(pg_cluster: PrivateCluster) -> None:
    name = _unique("ensured")
    pg_cluster.ensure_database(name)
    pg_cluster.ensure_database(name)  # a second call is a no-op
    with psycopg.connect(pg_cluster.url(name)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (name,)
    pg_cluster.drop_database(name)
    pg_cluster.drop_database(name)  # dropping a missing database is fine too
    with psycopg.connect(pg_cluster.url("postgres")) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        assert found.fetchone() is None


def test_create_database_copies_the_template(pg_cluster: PrivateCluster) -> None:
    template, clone = _unique("template"), _unique("clone")
    pg_cluster.create_database(template)
    try:
        with psycopg.connect(pg_cluster.url(template), autocommit=True) as conn:
            conn.execute("CREATE TABLE things (id int PRIMARY KEY, name text)")
            conn.execute("INSERT INTO things VALUES (1, 'one'), (2, 'two')")
        pg_cluster.create_database(clone, template=template)
        with psycopg.connect(pg_cluster.url(clone)) as conn:
            rows = conn.execute("SELECT id, name FROM things ORDER BY id").fetchall()
        assert rows == [(1, "one"), (2, "two")]
    finally:
        pg_cluster.drop_database(clone)
        pg_cluster.drop_database(template)


def test_restarted_cluster_keeps_its_data(services_dir: Path) -> None:
    # A cluster of its own, durable as `cloudledger run` uses it by default.
    cluster = PrivateCluster(services_dir / "restarted", free_port())
    try:
        cluster.start()
        cluster.ensure_database("kept")
        with psycopg.connect(cluster.url("kept"), autocommit=True) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
            conn.execute("CREATE TABLE notes (body text)")
            conn.execute("INSERT INTO notes VALUES ('survives restarts')")
        pid_file = cluster.data_dir / "postmaster.pid"
        pid_lines = pid_file.read_text().splitlines()
        cluster.stop()
        assert not cluster.is_running()

        # A killed run leaves its pid file behind, and by the next start its PID
        # may belong to some other live process: start() must still work.
        with subprocess.Popen(["sleep", "60"]) as other:
            try:
                pid_file.write_text("\n".join([str(other.pid), *pid_lines[1:]]))
                assert not cluster.is_running()
                cluster.start()
            finally:
                other.kill()
        assert cluster.is_running()
        with psycopg.connect(cluster.url("kept")) as conn:
            rows = conn.execute("SELECT body FROM notes").fetchall()
        assert rows == [("survives restarts",)]
    finally:
        cluster.stop()
    assert not cluster.is_running()


def test_cluster_start_failure_shows_the_log(services_dir: Path, busy_port: int) -> None:
    cluster = PrivateCluster(services_dir / "unlucky-pg", busy_port, fast=True)
    with pytest.raises(RuntimeError, match="Address already in use"):
        cluster.start()
    assert not cluster.is_running()


def test_redis_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        client.close()


def test_redis_data_written_by_one_test(redis_url: str) -> None:
    for db in (0, 1):
        client = redis.Redis.from_url(redis_url, db=db)
        try:
            client.set("left-over", "from the previous test")
        finally:
            client.close()


def test_redis_is_flushed_before_the_next(redis_url: str) -> None:
    # Runs after the test above (pytest keeps file order): FLUSHALL emptied
    # every logical database, not just 0.
    for db in (0, 1):
        client = redis.Redis.from_url(redis_url, db=db)
        try:
            assert client.dbsize() == 0
        finally:
            client.close()


def test_redis_start_failure_shows_the_log(services_dir: Path, busy_port: int) -> None:
    server = PrivateRedis(services_dir / "unlucky-redis", busy_port)
    with pytest.raises(RuntimeError, match="Address already in use"):
        server.start()
    assert server.pid is None


def test_servers_listen_only_on_loopback(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis
) -> None:
    with psycopg.connect(pg_cluster.url("postgres")) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()
    assert sockets == (str(pg_cluster.socket_dir),)
    client = redis.Redis.from_url(redis_server.url())
    try:
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
    finally:
        client.close()
