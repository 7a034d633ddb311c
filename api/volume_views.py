"""How Cinder shows a volume, a snapshot and a type at each microversion
(cinder/api/v3/views), and its links and paging."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from psycopg.rows import DictRow
from starlette.requests import Request

from api import microversion
from api import volume_microversion as mv
from api.context import base_url, state
from domain.values import Actor
from domain.volume_type import DEFAULT_TYPE
from projections.server_volumes import volumes_of_servers

# A volume's host as Cinder names it (host@backend#pool).
BACKEND = "tgt"
DELETE_ON_TERMINATION_SHOWN = (2, 3)  # compute: in volumes_attached


def project_of(request: Request) -> str:
    return str(request.path_params.get("project_id", ""))


def links(request: Request, kind: str, ident: str) -> list[dict[str, str]]:
    base, project = base_url(request), project_of(request)
    return [
        {"rel": "self", "href": f"{base}/volume/v3/{project}/{kind}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/volume/{project}/{kind}/{ident}"},
    ]


def next_link(request: Request, kind: str, rows: list[DictRow], limit: int) -> list[dict[str, str]]:
    """Cinder's ``<kind>_links``: a next page whenever this one is full."""
    if not rows or len(rows) < limit:
        return []
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    params.append(("marker", rows[-1]["id"]))
    url = f"{base_url(request)}{request.url.path}?{urlencode(params)}"
    return [{"rel": "next", "href": url}]


def _text(value: str) -> str | None:
    """Cinder shows null for a name or description never given."""
    return value or None


def volume_summary(request: Request, row: DictRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": _text(row["name"]),
        "links": links(request, "volumes", row["id"]),
    }


def _metadata(row: DictRow) -> dict[str, str]:
    """The user's metadata, and the read-only flag as Cinder shows it once set
    (its admin metadata: "True" or "False")."""
    found = dict(row["metadata"])
    if row["readonly_set"]:
        found["readonly"] = str(bool(row["readonly"]))
    return found


def _attachment(row: dict[str, Any], volume_id: str, actor: Actor) -> dict[str, Any]:
    return {
        "id": volume_id,
        "attachment_id": row["attachment_id"],
        "volume_id": volume_id,
        "server_id": row["server_id"],
        # As in Cinder: where it is attached is for admins (and services).
        "host_name": row["host_name"] or None if actor.is_admin else None,
        "device": row["device"],
        "attached_at": row["attached_at"],
    }


def volume(request: Request, row: DictRow, actor: Actor) -> dict[str, Any]:
    """The detailed view, with what each microversion adds."""
    vid = row["id"]
    source = row["source_kind"]
    shown: dict[str, Any] = {
        "id": vid,
        "status": row["status"],
        "size": row["size"],
        "availability_zone": row["availability_zone"],
        "created_at": row["created"],
        "updated_at": row["updated"],
        "name": _text(row["name"]),
        "description": _text(row["description"]),
        "volume_type": row["volume_type_name"],
        "snapshot_id": row["source_id"] if source == "snapshot" else None,
        "source_volid": row["source_id"] if source == "volume" else None,
        "metadata": _metadata(row),
        "links": links(request, "volumes", vid),
        "user_id": row["user_id"],
        "bootable": "true" if row["bootable"] else "false",
        "encrypted": False,
        "replication_status": None,
        "consistencygroup_id": None,
        "multiattach": row["multiattach"],
        "attachments": [_attachment(a, vid, actor) for a in row["attachments"]],
        "os-vol-tenant-attr:tenant_id": row["project_id"],
    }
    if row["image_metadata"]:
        shown["volume_image_metadata"] = row["image_metadata"]
    if actor.is_admin:
        shown["migration_status"] = None
        shown["os-vol-host-attr:host"] = (
            f"{row['host']}@{BACKEND}#{BACKEND}" if row["host"] else None
        )
        shown["os-vol-mig-status-attr:migstat"] = None
        shown["os-vol-mig-status-attr:name_id"] = None
    version = mv.requested(request)
    if version >= mv.GROUP_VOLUME:
        shown["group_id"] = None
    if actor.is_admin and version >= mv.VOLUME_DETAIL_PROVIDER_ID:
        shown["provider_id"] = None
    if version >= mv.SHARED_TARGETS_AND_SERVICE_FIELDS:
        shown["shared_targets"] = False  # one target per volume
        shown["service_uuid"] = None
    if actor.is_admin and version >= mv.VOLUME_CLUSTER_NAME:
        shown["cluster_name"] = None
    if version >= mv.VOLUME_TYPE_ID_IN_VOLUME_DETAIL:
        shown["volume_type_id"] = row["volume_type_id"]
    if version >= mv.USE_QUOTA:
        shown["consumes_quota"] = True
    return shown


def snapshot(request: Request, row: DictRow, detail: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": row["id"],
        "status": row["status"],
        "size": row["size"],
        "created_at": row["created"],
        "updated_at": row["updated"],
        "name": _text(row["name"]),
        "description": _text(row["description"]),
        "volume_id": row["volume_id"],
        "metadata": row["metadata"],
    }
    if detail:
        shown["os-extended-snapshot-attributes:progress"] = (
            "100%" if row["status"] == "available" else "0%"
        )
        shown["os-extended-snapshot-attributes:project_id"] = row["project_id"]
    version = mv.requested(request)
    if version >= mv.GROUP_SNAPSHOTS:
        shown["group_snapshot_id"] = None
    if version >= mv.SNAPSHOT_LIST_USER_ID:
        shown["user_id"] = row["user_id"]
    if version >= mv.USE_QUOTA:
        shown["consumes_quota"] = True
    return shown


def volume_type(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"] or None,
        "is_public": row["is_public"],
        "os-volume-type-access:is_public": row["is_public"],
        "extra_specs": dict(row["extra_specs"]),
        "qos_specs_id": None,
    }


DEFAULT_TYPE_ROW: dict[str, Any] = {
    "id": DEFAULT_TYPE.id,
    "name": DEFAULT_TYPE.name,
    "description": DEFAULT_TYPE.description,
    "is_public": DEFAULT_TYPE.is_public,
    "extra_specs": DEFAULT_TYPE.extra_specs,
}


async def volumes_attached(request: Request, server_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Each server's ``os-extended-volumes:volumes_attached``, in one query."""
    if not server_ids:
        return {}
    rows = await state(request).reads.all(volumes_of_servers(server_ids))
    with_flag = microversion.requested(request) >= DELETE_ON_TERMINATION_SHOWN
    found: dict[str, list[Any]] = {}
    for row in rows:
        shown: dict[str, Any] = {"id": row["volume_id"]}
        if with_flag:
            shown["delete_on_termination"] = row["delete_on_termination"]
        found.setdefault(row["server_id"], []).append(shown)
    return found
