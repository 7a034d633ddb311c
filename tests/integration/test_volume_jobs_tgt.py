"""The volume worker's jobs against a real tgtd and the ledger on PostgreSQL:
a volume is exported with its own CHAP account, an attachment's initiator
gets in with the secret derived on the compute side and no other does, a
detach takes it off the ACL, a delete waits for the session to end and
leaves zeros and no target; a SIGKILLed tgtd is given back what the read
model says this host exports; the reconcile repairs drift and records it."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from integration.helpers import Cloud, build_cloud, es_env, rows

from commands import volume_host
from commands.compute import claim_host, finish_spawn
from commands.volume_actions import delete_volume
from commands.volume_attachments import attach_volume, detach_volume
from commands.volumes import CreateVolume, create_volume
from ops.ports import free_port
from ops.stack import Supervisor
from ops.tgtd import Tgtd, TgtdConfig, free_control_port
from projections.bootstrap import Projector, build_view
from projections.group import ViewGroup
from projections.volume_queries import exports_of
from projections.volumes import VolumesView
from workers.drivers.chap import chap_for
from workers.drivers.errors import PermanentDriverError
from workers.drivers.iscsi import Portal, TargetAddress, target_iqn
from workers.drivers.runner import SubprocessRunner
from workers.drivers.volume_connector import QsdConnector, VolumeDisk
from workers.drivers.volume_files import VolumeFiles
from workers.jobs import volume as jobs
from workers.jobs.volume_context import VolumeContext
from workers.jobs.volume_reconcile import reconcile_exports, wanted_exports

KEY = os.urandom(32)
HOST = "storage-1"
COMPUTE = volume_host.host_actor("compute")


@dataclass
class Storage:
    cloud: Cloud
    tgtd: Tgtd
    context: VolumeContext
    connector: QsdConnector
    view: VolumesView
    projected: threading.Event

    def volume(self, size: int = 1) -> UUID:
        """A volume of the cloud's member, made and exported by the job."""
        volume_id = create_volume(CreateVolume(size), self.cloud.app, self.cloud.member).id
        assert jobs.create_volumes(self.context, [volume_id]) == {str(volume_id): "done"}
        return volume_id

    def wait_projected(self) -> None:
        """Until the volumes read model has every event appended so far."""
        last = self.cloud.last_notification_id()
        deadline = time.monotonic() + 10
        while self.view.position() < last:
            assert time.monotonic() < deadline
            time.sleep(0.02)

    def disk(self, volume_id: UUID, attachment_id: str, key: bytes = KEY) -> VolumeDisk:
        chap = chap_for(key, str(volume_id))
        address = TargetAddress(self.tgtd.config.portal, target_iqn(str(volume_id)))
        return VolumeDisk(attachment_id, str(volume_id), "vdc", address, chap.user, chap.secret)


@pytest.fixture
def storage(database_url: str, tmp_path: Path, short_dir: Path) -> Iterator[Storage]:
    cloud = build_cloud(database_url, tmp_path / "images")
    view = build_view(VolumesView, es_env(database_url))
    projector = Projector(cloud.app, ViewGroup(view.datastore, [view]), database_url)
    stop = threading.Event()
    projecting = threading.Thread(target=projector.run, args=(stop,), name="projector")
    projecting.start()
    files = VolumeFiles(tmp_path / "volumes", SubprocessRunner())
    holder: list[VolumeContext] = []
    config = TgtdConfig(tmp_path / "tgtd", free_control_port(), Portal("127.0.0.1", free_port()))
    tgtd = Tgtd(config, restore=lambda: wanted_exports(holder[0]))

    def wanted() -> list[tuple[str, list[str]]]:
        return [(r["id"], list(r["attachments"])) for r in view.fetch_all(exports_of(HOST))]

    context = VolumeContext(cloud.app, HOST, tgtd.target, files, KEY, wanted=wanted)
    holder.append(context)
    tgtd.start()
    connector = QsdConnector(short_dir / "conn", SubprocessRunner())
    try:
        yield Storage(cloud, tgtd, context, connector, view, stop)
    finally:
        for attachment in connector.connected():
            connector.ensure_disconnected(attachment)
        tgtd.stop()
        stop.set()
        projecting.join()
        view.datastore.close()
        cloud.app.close()


def _server(storage: Storage) -> UUID:
    storage.cloud.register_host("compute-1")
    server = storage.cloud.boot()
    assert claim_host(storage.cloud.app, server, "compute-1")
    finish_spawn(storage.cloud.app, server)
    return server


def _attach(storage: Storage, server: UUID, volume_id: UUID) -> str:
    attached = attach_volume(
        str(server), str(volume_id), False, storage.cloud.app, storage.cloud.member
    )
    assert jobs.grant_attachments(storage.context, [volume_id]) == {str(volume_id): "done"}
    return attached.attachment_id


def test_a_volume_is_exported_with_its_own_chap_account(storage: Storage) -> None:
    volume_id = storage.volume()
    (export,) = storage.tgtd.target.list_exports()
    assert export.volume_id == str(volume_id)
    assert export.backing_file == str(storage.context.files.volume_path(str(volume_id)))
    assert export.chap_users == (chap_for(KEY, str(volume_id)).user,)
    assert export.initiators == ()  # nobody may log in yet


def test_only_the_attachments_initiator_gets_in_and_only_until_detach(storage: Storage) -> None:
    server, volume_id = _server(storage), storage.volume()
    attachment_id = _attach(storage, server, volume_id)
    socket_path = storage.connector.ensure_connected(storage.disk(volume_id, attachment_id))
    assert Path(socket_path).exists()
    (export,) = storage.tgtd.target.list_exports()
    assert len(export.sessions) == 1
    # Another attachment's initiator, even with the right secret, is refused;
    # so is the right initiator with a secret from another key.
    with pytest.raises(PermanentDriverError):
        storage.connector.ensure_connected(storage.disk(volume_id, str(UUID(int=7))))
    storage.connector.ensure_disconnected(attachment_id)
    with pytest.raises(PermanentDriverError):
        storage.connector.ensure_connected(storage.disk(volume_id, attachment_id, os.urandom(32)))
    app = storage.cloud.app
    volume_host.finish_attach(app, volume_id, attachment_id, datetime.now(UTC), COMPUTE)
    detach_volume(str(server), str(volume_id), app, storage.cloud.member)
    volume_host.finish_unplug(app, volume_id, attachment_id, COMPUTE)
    assert jobs.revoke_attachments(storage.context, [volume_id]) == {str(volume_id): "done"}
    assert storage.tgtd.target.list_exports()[0].initiators == ()
    assert volume_host.load_volume(app, volume_id).status == "available"


def test_delete_waits_for_the_session_then_leaves_zeros_and_no_target(
    storage: Storage, tmp_path: Path
) -> None:
    server, volume_id = _server(storage), storage.volume()
    attachment_id = _attach(storage, server, volume_id)
    path = storage.context.files.volume_path(str(volume_id))
    with path.open("r+b") as file:
        file.write(b"tenant data" * 100)
    keep = tmp_path / "hard-link"
    os.link(path, keep)
    storage.connector.ensure_connected(storage.disk(volume_id, attachment_id))
    volume = volume_host.load_volume(storage.cloud.app, volume_id)
    volume.reset_status("available", storage.cloud.member)  # an admin forcing it, say
    volume.fail_attach(attachment_id, "gone", storage.cloud.member)
    storage.cloud.app.save(volume)
    delete_volume(str(volume_id), storage.cloud.app, storage.cloud.member)
    with pytest.raises(jobs.RetryLater):  # tgtd refuses while the session lasts
        jobs.delete_volumes(storage.context, [volume_id])
    assert path.exists()
    storage.connector.ensure_disconnected(attachment_id)
    assert jobs.delete_volumes(storage.context, [volume_id]) == {str(volume_id): "done"}
    assert storage.tgtd.target.list_exports() == []
    assert not path.exists()
    assert keep.read_bytes()[:4096] == bytes(4096)


def test_a_sigkilled_tgtd_gets_back_what_the_ledger_exports(storage: Storage) -> None:
    server, volume_id = _server(storage), storage.volume()
    attachment_id = _attach(storage, server, volume_id)
    other = storage.volume()
    storage.wait_projected()
    supervisor = Supervisor([], [storage.tgtd])
    pid = storage.tgtd.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    watcher = threading.Thread(target=supervisor.watch, daemon=True)
    watcher.start()
    while storage.tgtd.pid in (None, pid) or storage.tgtd.restored < 2:
        assert time.monotonic() < deadline, "tgtd was not restarted with its exports"
        time.sleep(0.05)
    supervisor.request_stop()
    exports = {e.volume_id: e for e in storage.tgtd.target.list_exports()}
    assert set(exports) == {str(volume_id), str(other)}
    assert len(exports[str(volume_id)].initiators) == 1
    storage.connector.ensure_connected(storage.disk(volume_id, attachment_id))


def test_the_reconcile_repairs_drift_and_the_ledger_says_so(storage: Storage) -> None:
    server, volume_id = _server(storage), storage.volume()
    _attach(storage, server, volume_id)
    storage.wait_projected()
    storage.tgtd.target.remove_export(str(volume_id))
    repairs = reconcile_exports(storage.context)
    assert [r.split()[0] for r in repairs] == ["export_restored", "acl_restored"]
    assert len(storage.tgtd.target.list_exports()[0].initiators) == 1
    recorded = rows(
        storage.cloud.database_url,
        "SELECT count(*) AS n FROM cloudledger_events WHERE topic LIKE %s",
        ("%Volume.DriftRepaired",),
    )
    assert recorded[0]["n"] == 2
    assert reconcile_exports(storage.context) == []
