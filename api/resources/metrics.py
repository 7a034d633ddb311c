"""Prometheus's metrics."""

from __future__ import annotations

from api import metrics_route
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "metrics",
    [*metrics_route.routes],
)
