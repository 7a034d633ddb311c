"""tgt and the ledger in line: what a (re)started tgtd is given back, and a
periodic comparison of its targets, LUNs and ACLs with what the ledger says
this storage host exports, repairing drift. Each repair is recorded on its
volume (``Volume.DriftRepaired``); a target of ours the ledger does not know
is only logged (it names no aggregate to record on)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from commands import volume_host
from domain.errors import NotFound
from domain.values import Actor
from workers.drivers.chap import chap_for
from workers.drivers.errors import DriverError
from workers.drivers.iscsi import Export, WantedExport, attachment_initiator_iqn
from workers.drivers.volume_files import VolumeFiles
from workers.jobs import volume as jobs
from workers.jobs.volume_context import VolumeContext

log = logging.getLogger(__name__)
_RECONCILE = Actor("service:volume", "", ("service",), "volume-reconcile")


def wanted_exports(context: VolumeContext) -> list[WantedExport]:
    """Every export the ledger says this host serves, with its ACL: what a
    restarted tgtd gets back (ops/tgtd.py's restore)."""
    return exports_wanted(context.wanted(), context.files, context.chap_key)


def exports_wanted(
    rows: Iterable[tuple[str, list[str]]], files: VolumeFiles, chap_key: bytes
) -> list[WantedExport]:
    """``rows`` (volume id, attachments let in) as exports; a volume never
    made (its file absent) has none."""
    wanted = []
    for volume_id, attachments in rows:
        path = files.volume_path(volume_id)
        if files.size_of(path) is None:
            continue
        chap = chap_for(chap_key, volume_id)
        initiators = tuple(attachment_initiator_iqn(a) for a in attachments)
        wanted.append(WantedExport(volume_id, str(path), chap.user, chap.secret, initiators))
    return wanted


def reconcile_exports(context: VolumeContext) -> list[str]:
    """Compare tgt with the ledger and repair what differs; the repairs made."""
    wanted = {w.volume_id: w for w in wanted_exports(context)}
    present = {e.volume_id: e for e in context.target.list_exports()}
    repairs: list[str] = []
    for volume_id, export in wanted.items():
        repairs += _mend(context, export, present.get(volume_id))
    for volume_id in sorted(set(present) - set(wanted)):
        repairs += _remove_stray(context, present[volume_id])
    return repairs


def _mend(context: VolumeContext, wanted: WantedExport, found: Export | None) -> list[str]:
    repairs: list[tuple[str, str]] = []
    target, vid = context.target, wanted.volume_id
    try:
        if found is None or found.backing_file != wanted.backing_file:
            if found is not None and not found.sessions:
                target.remove_export(vid)  # a LUN cut short, or on another file
            target.ensure_export(vid, wanted.backing_file, wanted.chap_user, wanted.chap_secret)
            repairs.append(("export_restored", f"volume-{vid}"))
            found = None
        have = set(found.initiators) if found is not None else set()
        for initiator in sorted(set(wanted.initiators) - have):
            target.ensure_acl(vid, initiator)
            repairs.append(("acl_restored", initiator))
        for initiator in sorted(have - set(wanted.initiators)):
            target.remove_acl(vid, initiator)
            repairs.append(("acl_removed", initiator))
    except DriverError as exc:
        log.error("reconcile of volume %s: %s", vid, exc)
    return _record(context, vid, repairs)


def _remove_stray(context: VolumeContext, export: Export) -> list[str]:
    """A target of ours the ledger has no (live) volume for: removed when no
    initiator is logged in (a deleted volume's, left by a crash)."""
    if export.sessions:
        log.warning("reconcile: stray target of volume %s has sessions; left", export.volume_id)
        return []
    try:
        context.target.remove_export(export.volume_id)
    except DriverError as exc:
        log.error("reconcile: stray target of volume %s: %s", export.volume_id, exc)
        return []
    return _record(context, export.volume_id, [("export_removed", f"volume-{export.volume_id}")])


def _record(context: VolumeContext, volume_id: str, repairs: list[tuple[str, str]]) -> list[str]:
    if not repairs:
        return []
    try:
        volume = volume_host.load_volume(context.app, UUID(volume_id))
    except NotFound:
        log.warning(
            "reconcile: %s of volume %s, which the ledger does not know", repairs, volume_id
        )
        return [f"{repair} {volume_id} {detail}" for repair, detail in repairs]
    for repair, detail in repairs:
        log.warning("reconcile: %s of volume %s (%s)", repair, volume_id, detail)
        volume.record_repair(repair, detail, _RECONCILE)
    context.app.save(volume)
    return [f"{repair} {volume_id} {detail}" for repair, detail in repairs]


def reconcile_job(context: VolumeContext) -> list[str]:
    """RQ's entry point (enqueued by the volume worker itself, periodically):
    tgt against the ledger, and attachments still waiting for the volume
    host (a grant or revoke a concurrent one's completion swept along)."""
    repairs = reconcile_exports(context)
    stuck = [UUID(volume_id) for volume_id, _ in context.wanted()]
    for step in (jobs.grant_attachments, jobs.revoke_attachments):
        try:
            step(context, stuck)
        except jobs.RetryLater as exc:
            log.warning("reconcile: %s", exc)
    return repairs
