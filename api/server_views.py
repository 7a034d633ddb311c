"""How a server's parts look at each compute microversion (the switches
that api/servers.py renders with)."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from psycopg.rows import DictRow
from starlette.requests import Request

from api import microversion
from api.context import base_url, state
from domain.faults import legacy_fault
from domain.values import Actor

EMBEDDED_FLAVOR = (2, 47)  # the flavor's sizes instead of its id and links


@functools.lru_cache(maxsize=4096)
def host_id(project_id: str, host: str) -> str:
    """Nova's opaque hostId: the same for a project's servers on one host."""
    return hashlib.sha224(f"{project_id}{host}".encode()).hexdigest()


def links(request: Request, kind: str, ident: str) -> list[dict[str, str]]:
    base = base_url(request)
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/{kind}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/compute/{kind}/{ident}"},
    ]


def flavor(request: Request, row: DictRow, actor: Actor) -> dict[str, Any]:
    """Before 2.47 the flavor's id and links; from 2.47 the sizes it had when
    the server booted, with its extra specs if the caller may list those."""
    if microversion.requested(request) < EMBEDDED_FLAVOR:
        return {"id": row["flavor_id"], "links": links(request, "flavors", row["flavor_id"])}
    booted = row["flavor"]
    shown: dict[str, Any] = {
        "original_name": booted["name"],
        "vcpus": booted["vcpus"],
        "ram": booted["ram_mb"],
        "disk": booted["disk_gb"],
        "ephemeral": booted["ephemeral_gb"],
        "swap": booted["swap_mb"],
    }
    if state(request).policy.allowed(actor, "compute:flavors:extra_specs:index"):
        # Rows projected from events stored before the field hold none.
        shown["extra_specs"] = dict(booted.get("extra_specs") or {})
    return shown


def fault(stored: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """A server's fault as Nova shows it: its message to everyone who sees
    the server, its details (the host's error) to admins only. A row
    projected before faults had details holds the one message they had:
    its owner sees the short part (domain/faults.py)."""
    if "details" in stored:
        message, details = stored["message"], stored["details"]
    else:
        message, details = legacy_fault(stored["message"])
    shown = {"code": stored["code"], "created": stored["created"], "message": message}
    if details and actor.is_admin:
        shown["details"] = details
    return shown
