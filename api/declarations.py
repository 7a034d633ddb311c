"""The words a resource declares its API side in (api/resources/): its
routes, the policy rules they ask with their defaults, the routes that
answer without a token, and, for the resource that is a service's face
(its version documents), the service: its path prefix, catalog entries,
error shape and microversions. api/registry.py derives the API's central
tables from them: the routes, the policy defaults, the catalog, the OpenAPI
document's public operations, the error shape of each path and the
microversion negotiation."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from starlette.routing import BaseRoute

from api.error_shapes import NOVA, ErrorShape

Version = tuple[int, int]

# ASCII digits only ("²" is a digit to str.isdigit), and few of them.
_VERSION = re.compile(r"([0-9]{1,4})\.([0-9]{1,4})", re.ASCII)
NOVA_MALFORMED = (
    "API Version String {value!r} is of invalid format. Must be of format MajorNum.MinorNum."
)


@dataclass(frozen=True)
class Rule:
    """A policy rule's default, in oslo.policy's language (api/policy.py has
    the base rules and personas it is built from), and what it guards.
    ``project_scoped``: only a project-scoped token may pass it (compute's,
    images', networks'); identity's rules take any token their check lets
    through (domain, system, unscoped)."""

    check: str
    description: str = ""
    project_scoped: bool = True


@dataclass(frozen=True)
class CatalogEntry:
    """One service of the token's catalog: the type clients look it up by
    (``compute``, ``volumev3``), its name (``nova``), and the path of its
    public endpoint on this server. ``{project_id}`` in the path stands for
    the token's project; a token without one is not given the entry."""

    type: str
    name: str
    path: str


class MalformedVersion(ValueError):
    """The header names a version that is not MAJOR.MINOR."""


@dataclass(frozen=True)
class Microversions:
    """A service's microversions, negotiated as OpenStack's services do:
    ``OpenStack-API-Version: <header> <major.minor>`` (or ``latest``) on a
    request under ``prefix``; none asked is the minimum; one out of range is
    406, an unparsable one 400 (``malformed``, formatted with ``value``).
    The answer echoes the version served. ``legacy_header``: an older
    header of the service's own, read when the standard one names none,
    and echoed (Nova's ``X-OpenStack-Nova-API-Version``). ``legacy_prefix``:
    an older endpoint served as ``prefix`` at the minimum, version headers
    ignored (Nova's /v2)."""

    header: str
    prefix: str
    minimum: Version
    maximum: Version
    legacy_header: str = ""
    legacy_prefix: str = ""
    malformed: str = NOVA_MALFORMED

    def parse(self, headers: Mapping[str, str]) -> Version:
        """The version ``headers`` ask for; MalformedVersion if unparsable."""
        value = ""
        for part in headers.get("openstack-api-version", "").split(","):
            service, _, asked = part.strip().partition(" ")
            if service.lower() == self.header:
                value = asked.strip()
        if not value and self.legacy_header:
            value = headers.get(self.legacy_header.lower(), "")
        if not value:
            return self.minimum
        if value.lower() == "latest":
            return self.maximum
        match = _VERSION.fullmatch(value)
        if match is None:
            raise MalformedVersion(value)
        return int(match[1]), int(match[2])


@dataclass(frozen=True)
class Service:
    """An OpenStack service this API serves: every path under ``prefix``
    is its (errors there take its ``errors`` shape), ``catalog`` its entries
    in a token's catalog, ``title`` how the OpenAPI document names it
    (``Compute v2.1``), ``microversions`` if it negotiates them."""

    prefix: str
    title: str
    catalog: tuple[CatalogEntry, ...] = ()
    errors: ErrorShape = NOVA
    microversions: Microversions | None = None

    def owns(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


@dataclass(frozen=True)
class ApiResource:
    """One resource's (or one part of the API's own: OpenAPI, audit,
    metrics) API side. ``routes`` in the order they are matched;
    ``policy`` rule name -> its default (a check, or a Rule with its
    description), every rule its routes ask; ``project_scoped`` for the
    rules given as a bare check; ``public`` its routes that answer
    without a token, as ``"GET /compute/v2.1/"``; ``service`` if it is a
    service's face (one resource per service declares it)."""

    name: str
    routes: Sequence[BaseRoute]
    policy: Mapping[str, str | Rule] = field(default_factory=dict)
    project_scoped: bool = True
    public: tuple[str, ...] = ()
    service: Service | None = None

    def rules(self) -> dict[str, Rule]:
        """Its policy, every default as a Rule."""
        return {
            name: rule if isinstance(rule, Rule) else Rule(rule, "", self.project_scoped)
            for name, rule in self.policy.items()
        }
