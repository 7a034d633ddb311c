"""The process supervisor behind `cloudledger run`."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from ops import stack
from ops.ports import free_port
from ops.redis import PrivateRedis
from ops.run import run
from ops.stack import Child, Supervisor


def _child(tmp_path: Path, code: str) -> Child:
    return Child("probe", [sys.executable, "-c", code], {}, tmp_path / "probe.log")


def test_a_child_that_keeps_dying_young_backs_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "RESTART_DELAY_SECONDS", 0.05)
    monkeypatch.setattr(stack, "MAX_RESTART_DELAY_SECONDS", 0.2)
    child = _child(tmp_path, "raise SystemExit(3)")
    supervisor = Supervisor([child])
    supervisor.start_all()
    watcher = threading.Thread(target=supervisor.watch, kwargs={"poll": 0.01})
    watcher.start()
    time.sleep(1.2)
    supervisor.request_stop()
    watcher.join(timeout=5)
    supervisor.stop_all()
    # 0.05, 0.1, 0.2, 0.2, ...: a handful of restarts, not one per poll.
    member = supervisor.member("probe")
    assert 3 <= member.restarts <= 9
    assert member.backoff == 0.2


def test_stop_all_ends_a_running_child_by_its_pid(tmp_path: Path) -> None:
    child = _child(tmp_path, "import time; time.sleep(60)")
    supervisor = Supervisor([child])
    supervisor.start_all()
    started = time.monotonic()
    supervisor.stop_all()
    assert child.process is not None and child.process.poll() is not None
    assert time.monotonic() - started < 5


def test_a_killed_redis_is_restarted_and_serves_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "RESTART_DELAY_SECONDS", 0.05)
    server = PrivateRedis(tmp_path / "redis", free_port())
    supervisor = Supervisor([], [server])
    supervisor.start_all()
    watcher = threading.Thread(target=supervisor.watch, kwargs={"poll": 0.01})
    watcher.start()
    try:
        first_pid = server.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)

        def serving_again() -> bool:
            try:
                return bool(redis.Redis.from_url(server.url()).ping())
            except redis.RedisError:
                return False

        deadline = time.monotonic() + 10
        while not (server.pid not in (None, first_pid) and serving_again()):
            assert time.monotonic() < deadline, "redis-server was not restarted"
            time.sleep(0.05)
        assert supervisor.member("redis").restarts == 1
    finally:
        supervisor.request_stop()
        watcher.join(timeout=5)
        supervisor.stop_all()
    assert server.pid is None  # stopped and reaped


def test_children_stop_before_the_servers_they_use(tmp_path: Path) -> None:
    stopped: list[str] = []

    class Server:
        name = "server"

        def start(self) -> None:
            pass

        def exited(self) -> bool:
            return False

        def stop(self) -> None:
            assert child.process is not None
            stopped.append(f"server after child exited: {child.process.poll() is not None}")

    child = _child(tmp_path, "import time; time.sleep(60)")
    supervisor = Supervisor([child], [Server()])
    supervisor.start_all()
    supervisor.stop_all()
    assert stopped == ["server after child exited: True"]


def test_run_refuses_a_busy_api_port_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        state = tmp_path / "state"
        code = run(2, {"CLOUDLEDGER_PORT": str(port), "CLOUDLEDGER_STATE_DIR": str(state)})
    assert code == 1
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().out
    assert not state.exists()  # nothing was started or created
