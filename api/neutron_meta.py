"""The Networking API's discovery: its version document (``/networking/``),
the resources of v2.0, and the extensions it serves, listed truthfully:
clients and tempest ask which exist before they use them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from api.context import authorize, base_url
from api.neutron_common import PREFIX
from api.responses import JSONResponse
from commands.network_batch import NeutronNotFound

UPDATED = "2026-12-01T00:00:00-00:00"

# alias: (name, description)
EXTENSIONS: dict[str, tuple[str, str]] = {
    "binding": ("Port Binding", "Port bindings of a virtual port (binding:host_id)"),
    "external-net": ("Neutron external network", "The router:external attribute of networks"),
    "ext-gw-mode": ("Configurable external gateway mode", "SNAT on a router's gateway or not"),
    "extraroute": ("Neutron Extra Route", "Extra routes configuration for L3 router"),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource."),
    "pagination": ("Pagination support", "Lists page with limit, marker and page_reverse"),
    "port-security": ("Port Security", "Provides port security"),
    "project-id": ("project_id field enabled", "The project_id field beside tenant_id"),
    "provider": ("Provider Network", "Mapping of virtual networks to physical networks"),
    "quotas": ("Quota management support", "Quotas of each project"),
    "quota_details": ("Quota details management support", "Quota usage of each project"),
    "router": ("Neutron L3 Router", "Routers between networks, NAT to external networks"),
    "security-group": ("security-group", "The security groups extension."),
    "sorting": ("Sorting support", "Lists sort by sort_key and sort_dir"),
    "subnet_allocation": ("Subnet Allocation", "Subnets carved from subnet pools"),
    "standard-attr-description": ("standard-attr-description", "Descriptions of resources"),
    "standard-attr-revisions": ("Resource revision numbers", "revision_number of resources"),
    "standard-attr-timestamp": ("Resource timestamps", "created_at and updated_at of resources"),
}

RESOURCES = (
    ("network", "networks"),
    ("subnet", "subnets"),
    ("subnetpool", "subnetpools"),
    ("port", "ports"),
    ("router", "routers"),
    ("floatingip", "floatingips"),
    ("security_group", "security-groups"),
    ("security_group_rule", "security-group-rules"),
    ("quota", "quotas"),
)


def _extension(alias: str) -> dict[str, Any]:
    name, description = EXTENSIONS[alias]
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "updated": UPDATED,
        "links": [],
    }


async def versions(request: Request) -> JSONResponse:
    """The version document keystoneauth reads to find v2.0."""
    href = f"{base_url(request)}{PREFIX}/"
    version = {"id": "v2.0", "status": "CURRENT", "links": [{"href": href, "rel": "self"}]}
    return JSONResponse({"versions": [version]})


async def version_v2(request: Request) -> JSONResponse:
    base = f"{base_url(request)}{PREFIX}"
    resources = [
        {
            "name": name,
            "collection": collection,
            "links": [{"href": f"{base}/{collection}", "rel": "self"}],
        }
        for name, collection in RESOURCES
    ]
    return JSONResponse({"resources": resources})


async def list_extensions(request: Request) -> JSONResponse:
    authorize(request, "network:get_extension")
    return JSONResponse({"extensions": [_extension(a) for a in sorted(EXTENSIONS)]})


class _Extension:
    """Names an extension in a 404."""


async def show_extension(request: Request) -> JSONResponse:
    authorize(request, "network:get_extension")
    alias = request.path_params["alias"]
    if alias not in EXTENSIONS:
        error = NeutronNotFound(_Extension, alias[:64])
        error.message = f"Extension with alias {alias[:64]} does not exist"
        error.args = (error.message,)
        raise error
    return JSONResponse({"extension": _extension(alias)})


routes = [
    Route("/networking", versions, methods=["GET"]),
    Route("/networking/", versions, methods=["GET"]),
    Route(PREFIX, version_v2, methods=["GET"]),
    Route(f"{PREFIX}/", version_v2, methods=["GET"]),
    Route(f"{PREFIX}/extensions", list_extensions, methods=["GET"]),
    Route(f"{PREFIX}/extensions/{{alias}}", show_extension, methods=["GET"]),
]
