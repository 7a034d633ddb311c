"""Compute's flavors and their extra specs and access."""

from __future__ import annotations

from api import flavor_extras, flavors
from api.declarations import ApiResource
from api.policy import ADMIN, READER

RESOURCE = ApiResource(
    "flavor",
    [*flavors.routes, *flavor_extras.routes],
    policy={
        "compute:flavors:index": READER,
        "compute:flavors:create": ADMIN,
        "compute:flavors:delete": ADMIN,
        "compute:flavors:extra_specs:index": READER,
        "compute:flavors:extra_specs:show": READER,
        "compute:flavors:extra_specs:create": ADMIN,
        "compute:flavors:extra_specs:update": ADMIN,
        "compute:flavors:extra_specs:delete": ADMIN,
        "compute:flavors:access:index": ADMIN,
        "compute:flavors:access:add": ADMIN,
        "compute:flavors:access:remove": ADMIN,
    },
)
