"""Compute's version documents and microversions (Nova's 2.1 to MAX_VERSION,
its legacy v2 endpoint, its own header too), as the compute service
declares them (api/resources/compute.py); api/negotiation.py negotiates
them, routes ask ``requested``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from api.context import base_url
from api.declarations import MalformedVersion, Microversions, Version
from api.negotiation import negotiated
from api.responses import JSONResponse

MIN_VERSION = (2, 1)
# Each switch from 2.38 on, and what it touches here, is in the README's
# table; 2.52 (tags at boot) waits for server tags.
MAX_VERSION = (2, 52)  # 2.52: tags at boot (server tags since 2.26)
UPDATED = "2024-01-01T00:00:00Z"
LEGACY_UPDATED = "2011-01-21T11:33:21Z"

COMPUTE = Microversions(
    "compute",
    "/compute/v2.1/",
    MIN_VERSION,
    MAX_VERSION,
    legacy_header="X-OpenStack-Nova-API-Version",
    legacy_prefix="/compute/v2/",
)
__all__ = ["COMPUTE", "MAX_VERSION", "MIN_VERSION", "MalformedVersion", "requested", "routes"]


def _fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _doc(request: Request) -> dict[str, object]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": _fmt(MAX_VERSION),
        "min_version": _fmt(MIN_VERSION),
        "updated": UPDATED,
        "links": [{"rel": "self", "href": f"{base_url(request)}/compute/v2.1/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


def _legacy_doc(request: Request) -> dict[str, object]:
    """Nova's v2.0: the v2.1 API at 2.1 with no microversions, under /v2."""
    return {
        "id": "v2.0",
        "status": "DEPRECATED",
        "version": "",
        "min_version": "",
        "updated": LEGACY_UPDATED,
        "links": [{"rel": "self", "href": f"{base_url(request)}/compute/v2/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}
        ],
    }


async def versions(request: Request) -> JSONResponse:
    # v2.0 first, as Nova lists them (clients and tempest expect that order).
    return JSONResponse({"versions": [_legacy_doc(request), _doc(request)]})


async def version_v20(request: Request) -> JSONResponse:
    return JSONResponse({"version": _legacy_doc(request)})


async def version_v21(request: Request) -> JSONResponse:
    return JSONResponse({"version": _doc(request)})


def requested(request: Request) -> Version:
    """The compute microversion this request is served at (MIN when none
    is asked); MalformedVersion if one is asked that does not parse."""
    return negotiated(request, COMPUTE)


routes = [
    Route("/compute", versions),
    Route("/compute/", versions),
    Route("/compute/v2", version_v20),
    Route("/compute/v2/", version_v20),
    Route("/compute/v2.1", version_v21),
    Route("/compute/v2.1/", version_v21),
]
