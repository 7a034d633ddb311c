"""The volume role: one process for the storage host, next to the tgtd that
`cloudledger run` supervises (its control port and portal come in the
settings). It beats as ``volume-<host>`` for `volume service list`,
clears image downloads a crash left, and checks tgt against the ledger
periodically, as a job on its own queue (in turn with its other jobs)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from commands.bootstrap import Settings, build_app, eventsourcing_env
from projections.bootstrap import build_view
from projections.volume_queries import exports_of
from projections.volumes import VolumesView
from workers.drivers.chap import load_or_create_key
from workers.drivers.runner import SubprocessRunner
from workers.drivers.tgt import TgtIscsiTarget
from workers.drivers.volume_files import VolumeFiles
from workers.heartbeats import HeartbeatThread, beat_interval
from workers.image_fetch import HttpImageFetcher, HttpImageUploader
from workers.jobs.volume import remove_scratch
from workers.jobs.volume_context import VolumeContext
from workers.jobs.volume_disks import parse_portal
from workers.periodic import enqueue_every
from workers.resources.volume import VOLUME
from workers.roles.compute import service_token

log = logging.getLogger(__name__)
RECONCILE_FUNC = "workers.jobs.volume_reconcile.reconcile_job"


def build_volume(
    settings: Settings, host_name: str | None, environ: Mapping[str, str]
) -> VolumeContext:
    del host_name, environ  # the storage host is the settings'
    if not settings.tgt_control_port or not settings.iscsi_portal:
        raise SystemExit(
            "a volume worker needs its tgtd: CLOUDLEDGER_TGT_CONTROL_PORT and "
            "CLOUDLEDGER_ISCSI_PORTAL (`cloudledger run` starts tgtd and sets them)"
        )
    app = build_app(settings.database_url, pool_size=2, limits=settings.database_limits)
    view = build_view(
        VolumesView, eventsourcing_env(settings.database_url, limits=settings.database_limits)
    )
    runner = SubprocessRunner()
    token = service_token(settings, "volume")
    host = settings.storage_host

    def wanted() -> list[tuple[str, list[str]]]:
        return [(r["id"], list(r["attachments"])) for r in view.fetch_all(exports_of(host))]

    context = VolumeContext(
        app=app,
        host=host,
        target=TgtIscsiTarget(
            runner, settings.tgt_control_port, parse_portal(settings.iscsi_portal)
        ),
        files=VolumeFiles(settings.volume_dir, runner),
        chap_key=load_or_create_key(settings.storage_key_file),
        fetch_image=HttpImageFetcher(settings.api_url, token),
        upload_image=HttpImageUploader(settings.api_url, token),
        scratch=settings.state_dir / "storage" / host / "scratch",
        wanted=wanted,
    )
    remove_scratch(context)
    stop = threading.Event()  # never set: the threads end with the process
    every = beat_interval(settings.service_down_time_s)
    HeartbeatThread(settings.redis_url, f"volume-{host}", stop, every).start()
    reconcile = enqueue_every(
        settings.redis_url,
        VOLUME.queue(),
        settings.volume_reconcile_interval_s,
        RECONCILE_FUNC,
        (),
        f"volume-reconcile-{host}",
        stop,
    )
    threading.Thread(target=reconcile, name="volume-reconcile", daemon=True).start()
    return context
