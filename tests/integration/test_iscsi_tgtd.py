"""The supervised tgtd (ops/tgtd.py): it serves its portal and nothing else,
is restarted with its exports after a SIGKILL, stops although it ignores
SIGTERM, keeps to its own control port, and never logs a CHAP secret."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.ports import free_port
from ops.stack import Supervisor
from ops.tgtd import CONTROL_DIR, Tgtd, TgtdConfig, control_port_is_free, free_control_port
from workers.drivers.iscsi import (
    Portal,
    TargetAddress,
    WantedExport,
    attachment_initiator_iqn,
    target_iqn,
)
from workers.drivers.runner import MASK, SubprocessRunner
from workers.drivers.volume_connector import QsdConnector, VolumeDisk

VOLUME = "0e9d4c1a-6b2f-4c3d-9e8f-7a6b5c4d3e2f"
ATTACHMENT = "5b7e0c1d-2a3f-4e5d-8c9b-0a1b2c3d4e5f"
USER = "vol-0e9d4c1a"
SECRET = "chap-secret-tgtd-test-0e9d"


def _config(tmp_path: Path, port: int | None = None) -> TgtdConfig:
    return TgtdConfig(
        tmp_path / "tgtd", free_control_port(), Portal("127.0.0.1", port or free_port())
    )


@pytest.fixture
def backing(tmp_path: Path) -> str:
    path = tmp_path / "volume"
    with path.open("wb") as file:
        file.truncate(64 << 20)
    return str(path)


@pytest.fixture
def connector(short_dir: Path) -> Iterator[QsdConnector]:
    conn = QsdConnector(short_dir / "conn", SubprocessRunner())
    yield conn
    for attachment in conn.connected():
        conn.ensure_disconnected(attachment)


def _disk(portal: Portal) -> VolumeDisk:
    return VolumeDisk(
        ATTACHMENT, VOLUME, "vdc", TargetAddress(portal, target_iqn(VOLUME)), USER, SECRET
    )


def _listening(pid: int) -> set[str]:
    """The TCP addresses process `pid` listens on."""
    out = subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True, check=True).stdout
    return {line.split()[3] for line in out.splitlines() if f"pid={pid}," in line}


def test_tgtd_listens_on_its_portal_only(tmp_path: Path) -> None:
    tgtd = Tgtd(_config(tmp_path))
    tgtd.start()
    try:
        assert tgtd.pid is not None
        assert _listening(tgtd.pid) == {str(tgtd.config.portal)}
    finally:
        tgtd.stop()


def test_a_taken_portal_is_refused_rather_than_served_on_every_address(tmp_path: Path) -> None:
    # tgtd falls back to 0.0.0.0:3260 when it cannot bind its portal.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        tgtd = Tgtd(_config(tmp_path, taken.getsockname()[1]))

        with pytest.raises(RuntimeError, match="is the portal's port taken"):
            tgtd.start()

    assert tgtd.pid is None
    assert not (CONTROL_DIR / f"socket.{tgtd.config.control_port}").exists()


def test_a_second_tgtd_on_the_same_control_port_does_not_start(tmp_path: Path) -> None:
    first = Tgtd(_config(tmp_path / "one"))
    first.start()
    try:
        assert not control_port_is_free(first.config.control_port)
        second_config = TgtdConfig(
            tmp_path / "two", first.config.control_port, Portal("127.0.0.1", free_port())
        )
        second = Tgtd(second_config)

        with pytest.raises(RuntimeError, match="another tgtd uses control port"):
            second.start()

        assert first.pid is not None and first.target.list_exports() == []
    finally:
        first.stop()
    assert control_port_is_free(first.config.control_port)


def test_stop_ends_tgtd_with_targets_and_sessions_without_a_kill(
    tmp_path: Path, backing: str, connector: QsdConnector, caplog: pytest.LogCaptureFixture
) -> None:
    tgtd = Tgtd(_config(tmp_path))
    tgtd.start()
    process = tgtd._process
    tgtd.target.ensure_export(VOLUME, backing, USER, SECRET)
    tgtd.target.ensure_acl(VOLUME, attachment_initiator_iqn(ATTACHMENT))
    connector.ensure_connected(_disk(tgtd.config.portal))
    assert tgtd.target.list_exports()[0].sessions  # in use

    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="ops.tgtd"):
        tgtd.stop()

    assert process is not None and process.returncode == 0  # it exited; no SIGKILL
    assert time.monotonic() - began < 2
    assert "killing" not in caplog.text
    assert not (CONTROL_DIR / f"socket.{tgtd.config.control_port}").exists()
    assert not (CONTROL_DIR / f"socket.{tgtd.config.control_port}.lock").exists()


def test_a_sigkilled_tgtd_is_restarted_with_its_exports(
    tmp_path: Path, backing: str, connector: QsdConnector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ops.tgtd")
    wanted = [WantedExport(VOLUME, backing, USER, SECRET, (attachment_initiator_iqn(ATTACHMENT),))]
    tgtd = Tgtd(_config(tmp_path), restore=lambda: wanted)
    supervisor = Supervisor(children=[], servers=[tgtd])
    supervisor.start_all()
    watcher = threading.Thread(target=supervisor.watch, kwargs={"poll": 0.05})
    watcher.start()
    try:
        first = tgtd.pid
        assert first is not None and tgtd.restored == 1

        os.kill(first, signal.SIGKILL)
        # Restarted once its start is over: the new pid shows before its
        # exports are given back, and a busy machine was seen between the two.
        deadline = time.monotonic() + 15
        while _starts(caplog) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

        assert _starts(caplog) == 2 and tgtd.pid not in (None, first)
        [export] = tgtd.target.list_exports()
        assert (export.volume_id, export.backing_file) == (VOLUME, backing)
        assert export.initiators == (attachment_initiator_iqn(ATTACHMENT),)
        connector.ensure_connected(_disk(tgtd.config.portal))  # CHAP account restored too
    finally:
        supervisor.request_stop()
        watcher.join()
        supervisor.stop_all()
    assert tgtd.pid is None


def test_the_chap_secret_is_in_no_log(
    tmp_path: Path, short_dir: Path, backing: str, caplog: pytest.LogCaptureFixture
) -> None:
    tgtd = Tgtd(_config(tmp_path))
    tgtd.start()
    try:
        with caplog.at_level(logging.DEBUG):
            tgtd.target.ensure_export(VOLUME, backing, USER, SECRET)
            tgtd.target.ensure_acl(VOLUME, attachment_initiator_iqn(ATTACHMENT))
            conn = QsdConnector(short_dir / "conn", SubprocessRunner())
            wrong = VolumeDisk(
                ATTACHMENT, VOLUME, "vdc", TargetAddress(tgtd.config.portal, target_iqn(VOLUME)),
                USER, "not-the-right-secret",
            )  # fmt: skip
            with pytest.raises(Exception, match="Authentication failure"):
                conn.ensure_connected(wrong)
    finally:
        tgtd.stop()

    assert "--password" in caplog.text and MASK in caplog.text  # the call was logged, masked
    assert SECRET not in caplog.text
    assert SECRET not in tgtd.log_file.read_text()


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace of this test's own, with only its loopback up."""
    name = f"cl-voltest-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def test_tgtd_in_a_namespace_serves_there_and_is_controlled_from_outside(
    tmp_path: Path, short_dir: Path, backing: str, namespace: str
) -> None:
    runner = SubprocessRunner()
    config = TgtdConfig(
        tmp_path / "tgtd", free_control_port(), Portal("127.0.0.1", free_port()), namespace
    )
    tgtd = Tgtd(config, runner=runner)
    tgtd.start()
    # The daemon in the namespace logs in; one in the root namespace cannot
    # (loopback is per namespace), and both are driven from here.
    inside = QsdConnector(short_dir / "in", runner, netns=namespace)
    outside = QsdConnector(short_dir / "out", runner)
    try:
        tgtd.target.ensure_export(VOLUME, backing, USER, SECRET)
        tgtd.target.ensure_acl(VOLUME, attachment_initiator_iqn(ATTACHMENT))

        with pytest.raises(Exception, match="cannot connect"):
            outside.ensure_connected(_disk(config.portal))
        inside.ensure_connected(_disk(config.portal))

        assert tgtd.target.list_exports()[0].sessions == (attachment_initiator_iqn(ATTACHMENT),)
    finally:
        inside.ensure_disconnected(ATTACHMENT)
        tgtd.stop()
    assert tgtd.pid is None


def _starts(caplog: pytest.LogCaptureFixture) -> int:
    """Completed starts of tgtd (each logs its restored exports last)."""
    return sum("exports restored" in r.getMessage() for r in caplog.records)
