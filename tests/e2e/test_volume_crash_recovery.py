"""A SIGKILLed volume worker in the middle of a create (from an image, killed
as soon as the volume shows downloading) and of an attach (killed as the
attach is asked): the supervisor restarts it, the relay runs the owed work
again, and the volume converges (available, in-use) with nothing orphaned:
one export per volume, one ACL entry per attachment, no temporary file."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from e2e.helpers import Session, Stack, children, create_member, login, wait_for
from e2e.test_openstack_cli import as_json, clouds_yaml_for, ok, openstack

pytestmark = pytest.mark.e2e
WAIT = 60.0
WORKER = b"worker volume"


@pytest.fixture
def member(stack: Stack, tmp_path: Path) -> Iterator[tuple[Stack, Session]]:
    """The member's CLI (a Stack whose state_dir holds its clouds.yaml) and HTTP session."""
    user = create_member(stack, "crash")
    clouds_yaml_for(stack, tmp_path, user.user, user.password, user.project)
    session = login(stack, user.user, user.password, user.project)
    yield replace(stack, state_dir=tmp_path), session
    session.client.close()


def _volume(member: Stack, name: str) -> dict[str, Any]:
    found: dict[str, Any] = as_json(openstack(member, "volume", "show", name, "-f", "json"))
    return found


def _kill_worker(stack: Stack) -> int:
    (pid,) = children(stack.process.pid, WORKER)
    os.kill(pid, signal.SIGKILL)
    return pid


def _restarted(stack: Stack, old: int) -> None:
    wait_for(
        lambda: [p for p in children(stack.process.pid, WORKER) if p != old],
        WAIT,
        "a new volume worker",
    )


def _tgt_exports(stack: Stack) -> list[dict[str, Any]]:
    """What tgtd serves now, read through the storage host's own driver."""
    import json

    from workers.drivers.runner import SubprocessRunner
    from workers.drivers.tgt import TgtIscsiTarget
    from workers.jobs.volume_disks import parse_portal

    ports = json.loads(
        (stack.state_dir / "storage" / "storage-1" / "tgtd" / "ports.json").read_text()
    )
    target = TgtIscsiTarget(
        SubprocessRunner(), ports["control"], parse_portal(f"127.0.0.1:{ports['portal']}")
    )
    return [e.__dict__ for e in target.list_exports()]


def _killed_while_downloading(stack: Stack, session: Session) -> str:
    """A volume from an image whose worker is SIGKILLed while it copies the
    image in: its Downloading is in the ledger, its Provisioned not yet
    (polled every few ms). A few tries: the copy of the small image takes
    a fraction of a second."""
    images = session.client.get("/image/v2/images", params={"name": "tiny-qcow2"})
    image = images.json()["images"][0]["id"]
    for _ in range(5):
        name = f"crash-{uuid.uuid4().hex[:6]}"
        body = {"volume": {"size": 1, "imageRef": image, "name": name}}
        created = session.client.post(f"/volume/v3/{session.project_id}/volumes", json=body)
        assert created.status_code == 202, created.text
        volume_id = created.json()["volume"]["id"]
        topics: set[str] = set()
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and not topics & {"Downloading", "Provisioned"}:
                rows = conn.execute(
                    "SELECT topic FROM cloudledger_events WHERE originator_id = %s",
                    (uuid.UUID(volume_id),),
                ).fetchall()
                topics = {str(topic).rsplit(".", 1)[-1] for (topic,) in rows}
                time.sleep(0.002)
        if "Downloading" in topics and "Provisioned" not in topics:
            old = _kill_worker(stack)
            _restarted(stack, old)
            return name
    pytest.fail("never caught a create while it downloaded")


def test_a_volume_worker_killed_mid_create_and_mid_attach_converges(
    stack: Stack, member: tuple[Stack, Session]
) -> None:
    name = _killed_while_downloading(stack, member[1])
    member_cli = member[0]
    wait_for(lambda: _volume(member_cli, name)["status"] == "available", WAIT, f"{name} available")
    volume = _volume(member_cli, name)
    exports = [e for e in _tgt_exports(stack) if e["volume_id"] == volume["id"]]
    assert len(exports) == 1 and exports[0]["initiators"] == ()
    scratch = stack.state_dir / "storage" / "storage-1" / "scratch"
    assert not list(scratch.glob(".image-for-*"))  # no download left behind
    volumes = stack.state_dir / "storage" / "storage-1" / "volumes"
    assert not [p for p in volumes.iterdir() if p.name.startswith(".")]  # no half file

    ok(openstack(member_cli, "server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2",
                 "--nic", "none", "--wait", f"{name}-vm"))  # fmt: skip
    ok(openstack(member_cli, "server", "add", "volume", f"{name}-vm", name))
    old = _kill_worker(stack)
    _restarted(stack, old)
    wait_for(lambda: _volume(member_cli, name)["status"] == "in-use", WAIT, f"{name} in-use")
    (export,) = [e for e in _tgt_exports(stack) if e["volume_id"] == volume["id"]]
    assert len(export["initiators"]) == 1  # the attachment's, once
    ok(openstack(member_cli, "server", "delete", "--wait", f"{name}-vm"))
    wait_for(lambda: _volume(member_cli, name)["status"] == "available", WAIT, f"{name} freed")
    (export,) = [e for e in _tgt_exports(stack) if e["volume_id"] == volume["id"]]
    assert export["initiators"] == ()
    ok(openstack(member_cli, "volume", "delete", name))
    wait_for(
        lambda: all(e["volume_id"] != volume["id"] for e in _tgt_exports(stack)),
        WAIT,
        "the target gone",
    )
