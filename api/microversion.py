"""Compute API version discovery and microversion negotiation."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import base_url
from api.errors import error_response
from api.responses import JSONResponse

MIN_VERSION = (2, 1)
# Each switch from 2.38 on, and what it touches here, is in the README's
# table; 2.52 (tags at boot) waits for server tags.
MAX_VERSION = (2, 52)  # 2.52: tags at boot (server tags since 2.26)
UPDATED = "2024-01-01T00:00:00Z"
LEGACY_UPDATED = "2011-01-21T11:33:21Z"
LEGACY_PREFIX = "/compute/v2/"
CURRENT_PREFIX = "/compute/v2.1/"
_VERSION_HEADERS = (b"openstack-api-version", b"x-openstack-nova-api-version")
# ASCII digits only ("²" is a digit to str.isdigit), and few of them.
_VERSION = re.compile(r"([0-9]{1,4})\.([0-9]{1,4})", re.ASCII)


class MalformedVersion(ValueError):
    """The header names a compute version that is not MAJOR.MINOR."""


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


def requested(request: Request) -> tuple[int, int]:
    """The microversion asked for, MIN when absent; MalformedVersion if unparsable."""
    header = request.headers.get("openstack-api-version", "")
    value = ""
    for part in header.split(","):
        service, _, ver = part.strip().partition(" ")
        if service.lower() == "compute":
            value = ver.strip()
    value = value or request.headers.get("x-openstack-nova-api-version", "")
    if not value:
        return MIN_VERSION
    if value.lower() == "latest":
        return MAX_VERSION
    match = _VERSION.fullmatch(value)
    if match is None:
        raise MalformedVersion(value)
    return int(match[1]), int(match[2])


class MicroversionMiddleware:
    """Rejects unsupported compute microversions and echoes the one used."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(LEGACY_PREFIX) and scope["path"] != LEGACY_PREFIX:
            await self.app(_as_legacy_v2(scope), receive, send)
            return
        if not scope["path"].startswith(CURRENT_PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            version = requested(request)
        except MalformedVersion as exc:
            response = error_response(
                request,
                400,
                f"API Version String {str(exc)[:20]!r} is of invalid format. Must be of "
                "format MajorNum.MinorNum.",
            )
            await response(scope, receive, send)
            return
        if not MIN_VERSION <= version <= MAX_VERSION:
            shown = _fmt(version)
            response = error_response(
                request,
                406,
                f"Version {shown} is not supported by the API. Minimum is "
                f"{_fmt(MIN_VERSION)} and maximum is {_fmt(MAX_VERSION)}.",
            )
            await response(scope, receive, send)
            return
        header = f"compute {_fmt(version)}".encode()

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [
                    (b"openstack-api-version", header),
                    (b"x-openstack-nova-api-version", header.split(b" ")[1]),
                    (b"vary", b"OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_version)


def _as_legacy_v2(scope: Scope) -> Scope:
    """A /compute/v2/... request as the same v2.1 route at 2.1: Nova's
    legacy v2 endpoint, which knows no microversions (headers are ignored)."""
    path = CURRENT_PREFIX + scope["path"][len(LEGACY_PREFIX) :]
    raw: bytes = scope.get("raw_path") or b""
    if raw.startswith(LEGACY_PREFIX.encode()):
        raw = CURRENT_PREFIX.encode() + raw[len(LEGACY_PREFIX) :]
    else:  # the prefix itself came percent-encoded
        raw = path.encode()
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _VERSION_HEADERS]
    return {**scope, "path": path, "raw_path": raw, "headers": headers}


routes = [
    Route("/compute", versions),
    Route("/compute/", versions),
    Route("/compute/v2", version_v20),
    Route("/compute/v2/", version_v20),
    Route("/compute/v2.1", version_v21),
    Route("/compute/v2.1/", version_v21),
]
