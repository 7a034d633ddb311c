"""Microversion negotiation for every service that declares microversions
(``Service.microversions``: compute's, and any other's): a request under
the service's prefix is refused if it asks for a version that does not
parse (400) or is out of range (406), and otherwise served at the version
it asked for, which the answer echoes. Routes ask ``negotiated``."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.declarations import MalformedVersion, Microversions, Version
from api.errors import error_response

SCOPE_KEY = "cloudledger.microversion"  # (the service's header name, the version served)


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def negotiated(request: Request, microversions: Microversions) -> Version:
    """The version of ``microversions``'s service this request is served at:
    the one the middleware settled, else the one its headers ask for (the
    minimum when none); MalformedVersion if that does not parse."""
    found = request.scope.get(SCOPE_KEY)
    if isinstance(found, tuple) and found[0] == microversions.header:
        version: Version = found[1]
        return version
    return microversions.parse(request.headers)


class MicroversionMiddleware:
    """Negotiates the microversion of each request under a service that
    declares them, and echoes the one it is served at."""

    def __init__(self, app: ASGIApp, services: Sequence[Microversions]) -> None:
        self.app, self.services = app, tuple(services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for service in self.services:
                legacy = service.legacy_prefix
                if legacy and path.startswith(legacy) and path != legacy:
                    await self.app(_as_current(scope, service), receive, send)
                    return
                if path.startswith(service.prefix):
                    await self._negotiate(service, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _negotiate(
        self, service: Microversions, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request = Request(scope)
        try:
            version = service.parse(request.headers)
        except MalformedVersion as exc:
            message = service.malformed.format(value=str(exc)[:20])
            await error_response(request, 400, message)(scope, receive, send)
            return
        if not service.minimum <= version <= service.maximum:
            message = (
                f"Version {fmt(version)} is not supported by the API. Minimum is "
                f"{fmt(service.minimum)} and maximum is {fmt(service.maximum)}."
            )
            await error_response(request, 406, message)(scope, receive, send)
            return
        scope[SCOPE_KEY] = (service.header, version)
        echoed = [(b"openstack-api-version", f"{service.header} {fmt(version)}".encode())]
        varies = "OpenStack-API-Version"
        if service.legacy_header:
            echoed.append((service.legacy_header.lower().encode(), fmt(version).encode()))
            varies += f", {service.legacy_header}"
        echoed.append((b"vary", varies.encode()))

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += echoed
            await send(message)

        await self.app(scope, receive, send_with_version)


def _as_current(scope: Scope, service: Microversions) -> Scope:
    """A request to the service's legacy endpoint as the same request to its
    current one, at the minimum version (the legacy one knows no
    microversions: their headers are dropped)."""
    legacy, current = service.legacy_prefix, service.prefix
    path = current + scope["path"][len(legacy) :]
    raw: bytes = scope.get("raw_path") or b""
    # The prefix may have come percent-encoded: then the path, re-encoded.
    ours = raw.startswith(legacy.encode())
    raw = current.encode() + raw[len(legacy) :] if ours else path.encode()
    dropped = {b"openstack-api-version", service.legacy_header.lower().encode()}
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in dropped]
    return {
        **scope,
        "path": path,
        "raw_path": raw,
        "headers": headers,
        SCOPE_KEY: (service.header, service.minimum),
    }
