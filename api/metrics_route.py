"""GET /metrics: every metric of this API process and of the pipeline, for
Prometheus (api/metrics.py), behind the scrape token or the policy rule."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import authorize, state


async def show_metrics(request: Request) -> Response:
    """Every metric of this process and of the pipeline, for Prometheus."""
    metrics = state(request).metrics
    if not metrics.accepts_scrape_token(request.headers.get("authorization", "")):
        authorize(request, "cloudledger:metrics")
    body = await run_in_threadpool(generate_latest, metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", show_metrics, methods=["GET"])]
