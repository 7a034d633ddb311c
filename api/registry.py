"""The API's central tables, derived from the resources' declarations
(api/resources/, and the packages named in CLOUDLEDGER_RESOURCES): the
routes in order, the policy rules' defaults, the routes that answer
without a token, and the services (the catalog, each path's error shape,
the microversions negotiated). No table here names a resource.

Built on first use, not when this module is imported: the declarations
import the route modules, which import the modules that use these tables
(api/errors.py, api/policy.py)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from starlette.routing import BaseRoute, Route

from api.declarations import ApiResource, Microversions, Rule, Service
from domain.discovery import declarations


@dataclass(frozen=True)
class ApiTables:
    resources: tuple[ApiResource, ...]
    routes: tuple[BaseRoute, ...]
    policy: Mapping[str, Rule]  # every rule a route asks, by name
    owners: Mapping[str, str]  # rule name -> the resource that declares it
    public: frozenset[tuple[str, str]]  # (method, path) answered without a token
    services: tuple[Service, ...]

    @classmethod
    def of(cls, resources: Sequence[ApiResource]) -> ApiTables:
        """The tables of these declarations; ValueError if two declare one
        rule or one service, or a public route is not the resource's own."""
        policy: dict[str, Rule] = {}
        owners: dict[str, str] = {}
        public: set[tuple[str, str]] = set()
        for resource in resources:
            for name, rule in resource.rules().items():
                if name in owners:
                    raise ValueError(
                        f"policy rule {name} declared by {owners[name]} and {resource.name}"
                    )
                policy[name], owners[name] = rule, resource.name
            public |= _public(resource)
        services = tuple(r.service for r in resources if r.service is not None)
        _check_services(services)
        return cls(
            resources=tuple(resources),
            routes=tuple(route for resource in resources for route in resource.routes),
            policy=MappingProxyType(policy),
            owners=MappingProxyType(owners),
            public=frozenset(public),
            # The identity service first (the catalog's own, and clients
            # find it there), the others in the order they are declared.
            services=tuple(sorted(services, key=lambda s: not _is_identity(s))),
        )

    def checks(self) -> dict[str, str]:
        """Each rule's default check, by name."""
        return {name: rule.check for name, rule in self.policy.items()}

    def service_for(self, path: str) -> Service | None:
        """The service a path is under (the longest prefix that owns it)."""
        owning = [s for s in self.services if s.owns(path)]
        return max(owning, key=lambda s: len(s.prefix)) if owning else None

    def microversions(self) -> tuple[Microversions, ...]:
        return tuple(s.microversions for s in self.services if s.microversions is not None)


def _is_identity(service: Service) -> bool:
    return any(entry.type == "identity" for entry in service.catalog)


def _public(resource: ApiResource) -> set[tuple[str, str]]:
    own = {
        (method, route.path)
        for route in resource.routes
        if isinstance(route, Route)
        for method in route.methods or {"GET"}
    }
    found = set()
    for entry in resource.public:
        method, _, path = entry.partition(" ")
        if (method, path) not in own:
            raise ValueError(f"{resource.name}: {entry} is public but no route of it")
        found.add((method, path))
    return found


def _check_services(services: Sequence[Service]) -> None:
    for attribute, values in (
        ("prefix", [s.prefix for s in services]),
        ("catalog type", [e.type for s in services for e in s.catalog]),
        ("microversion header", [s.microversions.header for s in services if s.microversions]),
    ):
        doubled = sorted({v for v in values if values.count(v) > 1})
        if doubled:
            raise ValueError(f"two services declare the {attribute} {', '.join(doubled)}")


@functools.cache
def tables() -> ApiTables:
    """The tables of every declared resource, found once per process."""
    return ApiTables.of(declarations("api", ApiResource))
