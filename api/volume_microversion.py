"""Block Storage v3: its version documents and microversions as Cinder
negotiates them (``OpenStack-API-Version: volume 3.x``; none asked: 3.0).
Compute's are api/microversion.py: the two services count apart."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import base_url
from api.errors import error_response
from api.responses import JSONResponse

MIN_VERSION = (3, 0)
# Cinder 2023.1's maximum. What each version changes here is in
# docs/block-storage.md; those we do not serve answer 404 as an unknown path.
MAX_VERSION = (3, 70)
UPDATED = "2023-03-21T00:00:00Z"
PREFIX = "/volume/v3/"
_VERSION = re.compile(r"([0-9]{1,4})\.([0-9]{1,4})", re.ASCII)
SCOPE_KEY = "cloudledger.volume_version"

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


class MalformedVersion(ValueError):
    """The header names a volume version that is not MAJOR.MINOR."""


def fmt(version: tuple[int, int]) -> str:
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


def parse(header: str) -> tuple[int, int]:
    """The volume version an OpenStack-API-Version header asks for."""
    value = ""
    for part in header.split(","):
        service, _, ver = part.strip().partition(" ")
        if service.lower() == "volume":
            value = ver.strip()
    if not value:
        return MIN_VERSION
    if value.lower() == "latest":
        return MAX_VERSION
    match = _VERSION.fullmatch(value)
    if match is None:
        raise MalformedVersion(value)
    return int(match[1]), int(match[2])


def requested(request: Request) -> tuple[int, int]:
    """The version this request is served at (the middleware checked it)."""
    found = request.scope.get(SCOPE_KEY)
    if isinstance(found, tuple):
        return found
    return parse(request.headers.get("openstack-api-version", ""))


def at_least(request: Request, version: tuple[int, int]) -> bool:
    return requested(request) >= version


class VolumeMicroversionMiddleware:
    """Refuses volume versions Cinder would (400 malformed, 406 outside the
    range) and echoes the one served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            version = parse(request.headers.get("openstack-api-version", ""))
        except MalformedVersion as exc:
            response = error_response(
                request,
                400,
                f"Invalid API version string {str(exc)[:20]!r}: it must be MajorNum.MinorNum.",
            )
            await response(scope, receive, send)
            return
        if not MIN_VERSION <= version <= MAX_VERSION:
            response = error_response(
                request,
                406,
                f"Version {fmt(version)} is not supported by the API. Minimum is "
                f"{fmt(MIN_VERSION)} and maximum is {fmt(MAX_VERSION)}.",
            )
            await response(scope, receive, send)
            return
        scope[SCOPE_KEY] = version
        header = f"volume {fmt(version)}".encode()

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [
                    (b"openstack-api-version", header),
                    (b"vary", b"OpenStack-API-Version"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_version)


routes = [
    Route("/volume", versions),
    Route("/volume/", versions),
    Route("/volume/v3", version_v3),
    Route("/volume/v3/", version_v3),
]
