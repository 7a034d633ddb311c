"""Compute's hosts: hypervisors, services and availability zones."""

from __future__ import annotations

from api import operators, services
from api.declarations import ApiResource
from api.policy import ADMIN, READER

RESOURCE = ApiResource(
    "host",
    [*operators.routes, *services.routes],
    policy={
        "compute:hypervisors:list": ADMIN,
        "compute:hypervisors:show": ADMIN,
        "compute:services:list": ADMIN,
        "compute:services:update": ADMIN,
        "compute:availability_zones:list": READER,
        "compute:availability_zones:detail": ADMIN,
    },
)
