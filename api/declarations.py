"""The words a resource declares its API side in (api/resources/): today its
routes, from which api/app.py builds the application. The service's
central tables (policy defaults, the catalog, the OpenAPI prefixes, the
error shapes) are to move here too, one entry per resource: see
docs/adding-a-resource.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute


@dataclass(frozen=True)
class ApiResource:
    """One resource's (or one part of the API's own: versions, OpenAPI,
    audit, metrics) routes, in the order they are matched."""

    name: str
    routes: Sequence[BaseRoute]
