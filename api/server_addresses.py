"""The compute API's view of networking: what a boot's ``networks`` and
``security_groups`` ask for, and a server's ``addresses`` (fixed and
floating, by network name)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from api.context import state
from api.errors import BadRequest
from commands.server_commands import BootRequest
from domain.values import Actor, NetworkRequest
from projections.network_ports import addresses_of_servers, group_names_of_servers
from projections.reader import AsyncReader, Query

MAX_NETWORKS = 16
DEFAULT_GROUP = "default"

# The network "auto" means: the project's own (its oldest), else the
# cloud's shared one named "private", else any shared one.
_AUTO = Query(
    "SELECT id::text AS id FROM net_networks WHERE NOT external AND"
    " (project_id = %s OR shared) ORDER BY (project_id = %s) DESC,"
    " (doc->>'name' = 'private') DESC, created_at, id LIMIT 1",
    (),
)


def boot_networks(asked: str | list[Any]) -> str | tuple[NetworkRequest, ...]:
    """A boot's networks as the command takes them: "none", "auto" (made
    a network by ``AutoNetworks`` for the boot's whole batch), or the
    requests (each id only in the right format; whether it may be used is
    the command's to say)."""
    if asked in ("none", []):
        return "none"
    if asked == "auto":
        return "auto"
    if not isinstance(asked, list) or len(asked) > MAX_NETWORKS:
        raise BadRequest(f"Bad networks format: at most {MAX_NETWORKS} networks")
    return tuple(_request(entry) for entry in asked)


class AutoNetworks:
    """The network "auto" means for a batch of one project's boots, read
    once for the batch (a query per boot was a tenth of a boot's cost in
    the API). A boot whose "auto" finds no network keeps "auto": the
    command boots it with none."""

    def __init__(self, reads: AsyncReader) -> None:
        self.reads = reads

    async def __call__(self, project_id: str, boots: list[BootRequest]) -> list[BootRequest]:
        if not any(cmd.networks == "auto" for cmd, _ in boots):
            return boots
        row = await self.reads.one(Query(_AUTO.sql, (project_id, project_id)))
        if row is None:
            return boots
        found = (NetworkRequest(network_id=row["id"], auto_allocate=True),)
        return [
            (replace(cmd, networks=found) if cmd.networks == "auto" else cmd, actor)
            for cmd, actor in boots
        ]


class BootGroup(BaseModel):
    """One of a boot's ``security_groups``: a group's name or id."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=255)


def group_names(asked: Sequence[BootGroup] | None) -> list[str]:
    """The names asked for, once each; Nova's answer shows them (else "default")."""
    return list(dict.fromkeys(g.name for g in asked or ())) or [DEFAULT_GROUP]


async def boot_security_groups(
    request: Request, actor: Actor, asked: Sequence[BootGroup] | None
) -> tuple[str, ...]:
    """The groups a boot's new ports go in, each named by name or id within
    the project, as ids ("" for the project's default group, which may not
    exist yet); () when none are asked for, or "default" alone."""
    found: list[str] = []
    for name in group_names(asked) if asked else ():
        if name == DEFAULT_GROUP:
            found.append("")
            continue
        rows = await state(request).reads.all(Query(_GROUPS.sql, (actor.project_id, name, name)))
        ids = [str(r["id"]) for r in rows]
        if name in ids:
            found.append(name)
        elif len(ids) == 1:
            found.append(ids[0])
        elif ids:
            raise BadRequest(f"Multiple security groups are named {name}: use its id")
        else:
            raise BadRequest(f"Security group {name} not found.")
    groups = tuple(dict.fromkeys(found))
    # "default" alone is what no groups means (a port without port security
    # then takes none, rather than refusing the group).
    return () if groups == ("",) else groups


_GROUPS = Query(
    "SELECT id FROM net_security_groups WHERE project_id = %s"
    " AND (id::text = %s OR doc->>'name' = %s) LIMIT 2",
    (),
)


def _request(entry: Any) -> NetworkRequest:
    if not isinstance(entry, dict) or not set(entry) <= {"uuid", "port", "fixed_ip", "tag"}:
        raise BadRequest(f"Bad networks format: {str(entry)[:60]}")
    network = entry.get("uuid") or ""
    port = entry.get("port") or ""
    fixed = entry.get("fixed_ip") or ""
    tag = entry.get("tag") or ""
    for value in (network, port, fixed, tag):
        if not isinstance(value, str) or len(value) > 64:
            raise BadRequest(f"Bad networks format: {str(entry)[:60]}")
    if network and not _is_uuid(network):
        raise BadRequest(f"Bad networks format: network uuid is not in proper format ({network})")
    if port and not _is_uuid(port):
        raise BadRequest(f"Bad networks format: port uuid is not in proper format ({port})")
    if fixed:
        try:
            ipaddress.ip_address(fixed)
        except ValueError:
            raise BadRequest(f"Invalid fixed IP address ({fixed})") from None
    if not (network or port):
        raise BadRequest("Bad networks format: each network needs a uuid or a port")
    if port and fixed:
        raise BadRequest("Bad networks format: a port and a fixed_ip cannot both be given")
    return NetworkRequest(network_id="" if port else network, port_id=port, fixed_ip=fixed, tag=tag)


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


# Addresses ---------------------------------------------------------------------


async def addresses_of(request: Request, servers: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Nova's ``addresses`` of each server: per network name, its fixed
    addresses and the floating ones reaching them. Only ports of the
    server's own project plugged in by the cloud count (a user may write
    any device_id on a port of theirs)."""
    owners = {str(s["id"]): s["project_id"] for s in servers}
    if not owners:
        return {}
    rows = await state(request).reads.all(addresses_of_servers(list(owners)))
    shown: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["project_id"] != owners.get(row["device_id"]):
            continue
        if not str(row["device_owner"]).startswith("compute:"):
            continue
        entries = shown.setdefault(row["device_id"], {}).setdefault(row["network_name"], [])
        mac = row["mac_address"]
        for fixed in row["fixed_ips"]:
            address = fixed["ip_address"]
            entries.append(_address(address, "fixed", mac))
            for floating in row["floating"]:
                if floating["fixed"] == address and floating["floating"]:
                    entries.append(_address(floating["floating"], "floating", mac))
    return shown


def _address(address: str, kind: str, mac: str) -> dict[str, Any]:
    # The ledger holds addresses checked and in their canonical text: no
    # parse (most of a listing's cost when it was) to tell the two apart.
    return {
        "version": 6 if ":" in address else 4,
        "addr": address,
        "OS-EXT-IPS:type": kind,
        "OS-EXT-IPS-MAC:mac_addr": mac,
    }


async def security_groups_of(request: Request, servers: Sequence[Any]) -> dict[str, list[str]]:
    """Nova's ``security_groups`` of each server: the names of its ports'
    groups, each once (only ports of its own project, as for addresses)."""
    owners = {str(s["id"]): s["project_id"] for s in servers}
    if not owners:
        return {}
    shown: dict[str, list[str]] = {}
    for row in await state(request).reads.all(group_names_of_servers(list(owners))):
        if row["project_id"] == owners.get(row["device_id"]):
            shown.setdefault(row["device_id"], []).append(row["name"])
    return shown
