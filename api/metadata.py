"""The metadata service's API side: what a guest reads at
``http://169.254.169.254/`` through its network's proxy
(workers/drivers/metadata_proxy.py), answered from the read models.

The proxy names the network and the guest's address and signs both with
the secret the API shares; an unsigned or wrongly signed request is 403.
The guest is the server holding that address on that network: a port of
its own project, plugged into it by the cloud. OpenStack's
``openstack/<version>/meta_data.json`` and the EC2-style ``latest/meta-data/``
keys are served; nothing else."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from uuid import UUID

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from api.context import state
from domain.network_values import COMPUTE_OWNER_PREFIX
from projections.network_ports import port_by_address
from projections.reader import Query
from projections.servers import server_by_id

OPENSTACK_VERSIONS = ("2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                      "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14", "latest")  # fmt: skip
EC2_VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
                "2008-02-01", "2008-09-01", "2009-04-04", "latest")  # fmt: skip
_HOSTNAME_JUNK = re.compile(r"[^\w.-]+")
# What the proxy sends (workers/drivers/metadata_proxy.py; a unit test
# checks that both sides agree).
NETWORK_HEADER = "X-Cloudledger-Network-Id"
ADDRESS_HEADER = "X-Forwarded-For"
SIGNATURE_HEADER = "X-Cloudledger-Metadata-Signature"


def signature(secret: bytes, network_id: str, address: str) -> str:
    """HMAC-SHA256 of the network and the guest's address."""
    return hmac.new(secret, f"{network_id}\n{address}".encode(), hashlib.sha256).hexdigest()


def hostname_of(name: str) -> str:
    """Nova's sanitized host name: lower case, spaces and underscores as
    dashes, anything else dropped, at most 63 characters."""
    name = name.lower().replace(" ", "-").replace("_", "-")
    name = _HOSTNAME_JUNK.sub("", name.encode("ascii", "ignore").decode()).strip(".-")
    return name[:63].rstrip(".-") or "server"


class _Guest:
    """What the metadata of one server says."""

    def __init__(self, server: dict[str, Any], address: str, floating: str, groups: list[str]):
        self.server, self.address, self.floating, self.groups = server, address, floating, groups

    @property
    def hostname(self) -> str:
        return hostname_of(str(self.server["name"]))

    def keys(self) -> dict[str, str]:
        name, data = self.server["key_name"], self.server["key_data"]
        return {name: data} if name and data else {}

    def meta_data(self) -> dict[str, Any]:
        keys = self.keys()
        return {
            "uuid": self.server["id"],
            "name": self.server["name"],
            "hostname": self.hostname,
            "launch_index": 0,
            "availability_zone": self.server["zone"],
            "project_id": self.server["project_id"],
            "public_keys": keys,
            "keys": [{"name": n, "type": "ssh", "data": d} for n, d in keys.items()],
            "meta": self.server["metadata"],
            "devices": [],
        }

    def ec2(self) -> dict[str, Any]:
        """The EC2-style tree: a dict is a folder, anything else a leaf."""
        keys = self.keys()
        return {
            "ami-id": self.server["image_id"],
            "ami-launch-index": "0",
            "hostname": self.hostname,
            "instance-id": self.server["id"],
            "instance-type": self.server["flavor"]["name"],
            "local-hostname": self.hostname,
            "local-ipv4": self.address,
            "placement": {"availability-zone": self.server["zone"]},
            "public-hostname": self.hostname,
            "public-ipv4": self.floating,
            "public-keys": {
                f"{n}={name}": {"openssh-key": data} for n, (name, data) in enumerate(keys.items())
            },
            "reservation-id": f"r-{self.server['id'][:8]}",
            "security-groups": "\n".join(self.groups),
        }


def _signed(request: Request) -> tuple[UUID, str] | None:
    network = request.headers.get(NETWORK_HEADER, "")
    address = request.headers.get(ADDRESS_HEADER, "")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not (network and address and given) or len(network) > 64 or len(address) > 64:
        return None
    expected = signature(state(request).network.metadata_secret, network, address)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return None
    try:
        return UUID(network), address
    except ValueError:
        return None


async def _guest(request: Request, network_id: UUID, address: str) -> _Guest | None:
    reads = state(request).reads
    port = await reads.one(port_by_address(network_id, address))
    if port is None or not str(port["device_owner"]).startswith(COMPUTE_OWNER_PREFIX):
        return None
    try:
        server_id = UUID(port["device_id"])
    except ValueError:
        return None
    server = await reads.one(server_by_id(server_id))
    extra = await reads.one(
        Query(
            "SELECT s.key_data, p.project_id AS port_project,"
            " (SELECT f.doc->>'floating_ip_address' FROM net_floating_ips f"
            "  WHERE f.port_id = %s AND f.doc->>'fixed_ip_address' = %s LIMIT 1) AS floating,"
            " (SELECT coalesce(jsonb_agg(g.doc->>'name'), '[]'::jsonb) FROM net_security_groups g"
            "  WHERE p.doc->'security_groups' ? g.id::text) AS groups"
            " FROM servers s, net_ports p WHERE s.id = %s AND p.id = %s",
            (port["id"], address, server_id, UUID(port["id"])),
        )
    )
    # A port of another project naming this server is not this server's.
    if server is None or extra is None or extra["port_project"] != server["project_id"]:
        return None
    details = {**server, "key_data": extra["key_data"]}
    return _Guest(details, address, extra["floating"] or "", list(extra["groups"]))


async def metadata(request: Request) -> Response:
    """Any path of the metadata tree, for the guest the proxy vouches for."""
    signed = _signed(request)
    if signed is None:
        return PlainTextResponse("Invalid proxy request signature.\n", 403)
    guest = await _guest(request, *signed)
    if guest is None:
        return PlainTextResponse("Not Found\n", 404)
    return _answer(guest, request.path_params.get("path", ""))


def _answer(guest: _Guest, path: str) -> Response:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return PlainTextResponse("\n".join(EC2_VERSIONS) + "\nopenstack")
    if parts[0] == "openstack":
        return _openstack(guest, parts[1:])
    if parts[0] in EC2_VERSIONS:
        return _ec2(guest, parts[1:])
    return PlainTextResponse("Not Found\n", 404)


def _openstack(guest: _Guest, parts: list[str]) -> Response:
    if not parts:
        return PlainTextResponse("\n".join(OPENSTACK_VERSIONS))
    if parts[0] not in OPENSTACK_VERSIONS:
        return PlainTextResponse("Not Found\n", 404)
    if len(parts) == 1:
        return PlainTextResponse("meta_data.json")
    if parts[1:] == ["meta_data.json"]:
        return Response(orjson.dumps(guest.meta_data()), media_type="application/json")
    return PlainTextResponse("Not Found\n", 404)


def _ec2(guest: _Guest, parts: list[str]) -> Response:
    if not parts:
        return PlainTextResponse("meta-data/")
    if parts[0] != "meta-data":
        return PlainTextResponse("Not Found\n", 404)
    node: Any = guest.ec2()
    for part in parts[1:]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and part.isdigit():  # public-keys/0 for "0=name"
            matches = [v for k, v in node.items() if k.split("=", 1)[0] == part]
            if not matches:
                return PlainTextResponse("Not Found\n", 404)
            node = matches[0]
        else:
            return PlainTextResponse("Not Found\n", 404)
    if isinstance(node, dict):
        names = [k if not isinstance(v, dict) or "=" in k else f"{k}/" for k, v in node.items()]
        return PlainTextResponse("\n".join(names))
    return PlainTextResponse(str(node))


routes = [
    Route("/metadata", metadata, methods=["GET"]),
    Route("/metadata/{path:path}", metadata, methods=["GET"]),
]
