"""Block Storage v3: its version documents and microversions as Cinder
negotiates them (``OpenStack-API-Version: volume 3.x``; none asked: 3.0),
declared on block storage's service (api/resources/volume.py) and
negotiated by api/negotiation.py apart from compute's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from api.context import base_url
from api.declarations import Microversions, Version
from api.negotiation import negotiated
from api.responses import JSONResponse

MIN_VERSION = (3, 0)
# Cinder 2023.1's maximum. What each version changes here is in
# docs/block-storage.md; those we do not serve answer 404 as an unknown path.
MAX_VERSION = (3, 70)
UPDATED = "2023-03-21T00:00:00Z"
VOLUME = Microversions(
    "volume",  # OpenStack-API-Version: volume 3.x
    "/volume/v3/",
    MIN_VERSION,
    MAX_VERSION,
    malformed="Invalid API version string {value!r}: it must be MajorNum.MinorNum.",
)

# The switches the API renders with (Cinder's names in cinder/api/microversions.py).
VOLUME_SUMMARY = (3, 12)
GROUP_VOLUME = (3, 13)
GROUP_SNAPSHOTS = (3, 14)
VOLUME_DETAIL_PROVIDER_ID = (3, 21)
LIKE_FILTER = (3, 34)
SNAPSHOT_LIST_USER_ID = (3, 41)
SUPPORT_COUNT_INFO = (3, 45)
SHARED_TARGETS_AND_SERVICE_FIELDS = (3, 48)
VOLUME_CLUSTER_NAME = (3, 61)
VOLUME_TYPE_ID_IN_VOLUME_DETAIL = (3, 63)
USE_QUOTA = (3, 65)
SNAPSHOT_IN_USE = (3, 66)
SHARED_TARGETS_TRISTATE = (3, 69)
SERVICE_CLUSTER = (3, 7)


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _doc(request: Request) -> dict[str, object]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": fmt(MAX_VERSION),
        "min_version": fmt(MIN_VERSION),
        "updated": UPDATED,
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": f"{base_url(request)}/volume/v3/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


async def versions(request: Request) -> JSONResponse:
    """``GET /volume/``: Cinder answers 300 Multiple Choices."""
    return JSONResponse({"versions": [_doc(request)]}, 300)


async def version_v3(request: Request) -> JSONResponse:
    """``GET /volume/v3/`` (and the catalog's URL with its project id)."""
    return JSONResponse({"versions": [_doc(request)]})


def requested(request: Request) -> Version:
    """The volume version this request is served at (api/negotiation.py
    settled it; the minimum when none is asked)."""
    return negotiated(request, VOLUME)


def at_least(request: Request, version: Version) -> bool:
    return requested(request) >= version


routes = [
    Route("/volume", versions),
    Route("/volume/", versions),
    Route("/volume/v3", version_v3),
    Route("/volume/v3/", version_v3),
]
