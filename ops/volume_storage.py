"""The storage host `cloudledger run` keeps: a supervised tgtd on
127.0.0.1 (ops/tgtd.py) with ports kept from one run to the next (volumes
record their portal), given back, at every (re)start, the exports the
ledger says this host serves."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from commands.bootstrap import Settings
from ops.ports import free_port, port_is_free
from ops.tgtd import Tgtd, TgtdConfig, control_port_is_free, free_control_port
from projections.volume_queries import exports_of
from workers.drivers.chap import load_or_create_key
from workers.drivers.iscsi import Portal, WantedExport
from workers.drivers.runner import SubprocessRunner
from workers.drivers.volume_files import VolumeFiles
from workers.jobs.volume_reconcile import exports_wanted

log = logging.getLogger(__name__)
ADDRESS = "127.0.0.1"


def tgtd_config(settings: Settings) -> TgtdConfig:
    """The ports of the last run when they are still free (volumes keep
    the portal they were made on), else new ones, remembered for next time."""
    state = settings.state_dir / "storage" / settings.storage_host / "tgtd"
    state.mkdir(parents=True, exist_ok=True)
    remembered = _read(state / "ports.json")
    control = remembered.get("control", 0)
    if not control or not control_port_is_free(control):
        control = free_control_port()
    portal = remembered.get("portal", 0)
    if not portal or not port_is_free(portal):
        portal = free_port()
    (state / "ports.json").write_text(json.dumps({"control": control, "portal": portal}))
    return TgtdConfig(state, control, Portal(ADDRESS, portal))


def _read(path: Path) -> dict[str, int]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, int)} if isinstance(found, dict) else {}


def storage_env(config: TgtdConfig) -> dict[str, str]:
    """What the volume worker is told of its tgtd."""
    return {
        "CLOUDLEDGER_TGT_CONTROL_PORT": str(config.control_port),
        "CLOUDLEDGER_ISCSI_PORTAL": str(config.portal),
    }


def supervised_tgtd(settings: Settings, config: TgtdConfig) -> Tgtd:
    """The tgtd, restored from the ledger's read model at every start."""

    def restore() -> list[WantedExport]:
        try:
            return _wanted(settings)
        except Exception as exc:  # a fresh ledger has no tables yet: nothing to restore
            log.warning("tgtd restore read nothing from the ledger: %s", exc)
            return []

    return Tgtd(config, restore=restore)


def _wanted(settings: Settings) -> list[WantedExport]:
    """What the ledger's read model says this host exports. One plain
    connection with a short timeout: at a first start the database may not
    exist yet (nothing to restore then)."""
    query = exports_of(settings.storage_host)
    with psycopg.connect(settings.database_url, connect_timeout=3, row_factory=dict_row) as conn:
        rows = conn.execute(query.sql, query.params).fetchall()
    files = VolumeFiles(settings.volume_dir, SubprocessRunner())
    key = load_or_create_key(settings.storage_key_file)
    return exports_wanted(((r["id"], list(r["attachments"])) for r in rows), files, key)
