"""Composition root of the API process: ``create_app(state)`` and the
environment-driven factory uvicorn starts (``api.app:app_from_env``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from api import flavors, identity, images, microversion, quotas, servers
from api.admission import Admission
from api.batching import AsyncBatcher
from api.context import ApiState
from api.errors import EXCEPTION_HANDLERS
from api.limits import BodyLimitMiddleware
from api.progress import ProjectionProgress
from commands.bootstrap import Settings, build_services, eventsourcing_env
from commands.tokens import TokenCodec
from projections.bootstrap import build_view
from projections.flavors import FlavorsView
from projections.hosts import HostsView
from projections.images import ImagesView
from projections.quotas import QuotasView
from projections.registry import VIEW_CLASSES
from projections.servers import ServersView


def create_app(api_state: ApiState, max_json_body_bytes: int) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await api_state.progress.start(wait_ready=5.0)
        try:
            yield
        finally:
            await api_state.progress.stop()

    app = Starlette(
        routes=[
            *identity.routes,
            *microversion.routes,
            *servers.routes,
            *flavors.routes,
            *quotas.routes,
            *images.routes,
        ],
        middleware=[
            Middleware(BodyLimitMiddleware, max_bytes=max_json_body_bytes, exempt=images.is_upload),
            Middleware(microversion.MicroversionMiddleware),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.api = api_state
    return app


def build_state(settings: Settings) -> ApiState:
    es_env = eventsourcing_env(settings.database_url, pool_size=4, limits=settings.database_limits)
    servers = build_view(ServersView, es_env)
    services = build_services(settings)
    return ApiState(
        services=services,
        tokens=TokenCodec(settings.token_key()),
        progress=ProjectionProgress(settings.database_url, [v.name for v in VIEW_CLASSES]),
        servers=servers,
        quotas=build_view(QuotasView, es_env),
        flavors=build_view(FlavorsView, es_env),
        images=build_view(ImagesView, es_env),
        hosts=build_view(HostsView, es_env),
        admission=Admission(servers, settings.max_in_flight, settings.max_project_in_flight),
        boots=AsyncBatcher(services.boot_servers),
    )


def app_from_env() -> Starlette:
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    return create_app(build_state(settings), settings.max_json_body_bytes)
