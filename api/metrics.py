"""GET /metrics in Prometheus's text format, and the middleware that counts
and times every request by route template and status, then logs it.

What this API process sees itself (its requests, its admission refusals) is
counted in memory as it happens; what the rest of the pipeline does is read
from PostgreSQL and Redis when Prometheus scrapes (api/metrics_collectors.py).
The endpoint is behind the policy rule ``cloudledger:metrics`` (admins, or
the ``metrics_reader`` role), or takes the operator's scrape token as
``Authorization: Bearer <token>`` (``CLOUDLEDGER_METRICS_TOKEN_FILE``)."""

from __future__ import annotations

import hmac
import logging
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("cloudledger.requests")

# Most answers take a few milliseconds; a boot waits for its read models.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A path no route matched is counted under this name: raw paths as labels
# would make a new series for every id a client tries.
UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ApiMetrics:
    """This process's registry: its own counters and the scrape-time collectors."""

    def __init__(self, scrape_token: str | None = None) -> None:
        self.registry = CollectorRegistry()
        self.scrape_token = scrape_token
        labels = ("method", "route", "status")
        self.requests = Counter(
            "cloudledger_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "cloudledger_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "cloudledger_admission_refusals",
            "Boots refused (429) by admission control, by the bound reached: cloud or project.",
            ("scope",),
            registry=self.registry,
        )
        # labels() takes a lock and builds a key: done once per series, not per request.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            names = (method, route, str(status))
            series = self._series[key] = (
                self.requests.labels(*names),
                self.latency.labels(*names),
            )
        series[0].inc()
        series[1].observe(seconds)

    def count_refusal(self, scope: str) -> None:
        self.refusals.labels(scope).inc()

    def accepts_scrape_token(self, authorization: str) -> bool:
        if not self.scrape_token or not authorization.startswith("Bearer "):
            return False
        given = authorization.removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), self.scrape_token.encode())


class MetricsMiddleware:
    """Counts, times and logs each HTTP request once it is answered."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app raises before it answers

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            seconds = time.perf_counter() - started
            # The router leaves the matched route in the scope (Starlette >= 0.41).
            route = getattr(scope.get("route"), "path", UNMATCHED)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.observe(method, route, status, seconds)
            access_log.info(
                "%s %s %d %.1f ms",
                method,
                scope["path"],
                status,
                seconds * 1000,
                extra={"route": route, "status": status},
            )


def read_scrape_token(path: Path | None) -> str | None:
    """The operator's scrape token, from its file; None: tokens only.
    SystemExit if the file is set but cannot be read or is empty."""
    if path is None:
        return None
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise SystemExit(f"metrics token file {path}: {exc.strerror}") from None
    if not token:
        raise SystemExit(f"metrics token file {path} is empty")
    return token
