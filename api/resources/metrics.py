"""Prometheus's metrics."""

from __future__ import annotations

from api import metrics_route
from api.declarations import ApiResource, Rule

RESOURCE = ApiResource(
    "metrics",
    [*metrics_route.routes],
    policy={
        "cloudledger:metrics": Rule(
            "rule:admin_api or role:metrics_reader",
            "GET /metrics: admins, or a user given the metrics_reader role (Prometheus)",
        )
    },
)
