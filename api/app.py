"""Composition root of the API process: ``create_app(state)`` and the
environment-driven factory uvicorn starts (``api.app:app_from_env``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from api import audit, image_data, metrics
from api.admission import Admission
from api.batching import AsyncBatcher
from api.context import ApiState
from api.errors import EXCEPTION_HANDLERS, domain_error
from api.heartbeats import Heartbeats
from api.host_calls import HostCalls
from api.limits import BodyLimitMiddleware
from api.metrics import ApiMetrics, read_scrape_token
from api.metrics_collectors import PipelineCollector
from api.negotiation import MicroversionMiddleware
from api.neutron_state import NetworkApiState
from api.policy import Policy
from api.progress import ProjectionProgress
from api.registry import tables
from api.request_id import RequestIdMiddleware
from api.revocations import RevocationList
from api.server_addresses import AutoNetworks
from commands.bootstrap import Settings, build_services
from commands.logs import configure_logging
from commands.metadata_secret import metadata_secret
from commands.rejections import PostgresRejections
from commands.tokens import TokenCodec
from domain.errors import DomainError
from domain.property_protections import PropertyProtections, ProtectionFileError
from projections.bootstrap import postgres_recorder
from projections.reader import AsyncReader
from projections.registry import VIEW_CLASSES
from projections.revocations import RevocationsView


def create_app(api_state: ApiState, max_json_body_bytes: int) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await api_state.reads.open()
        await api_state.progress.start(wait_ready=5.0)
        try:
            yield
        finally:
            await api_state.progress.stop()
            await api_state.reads.close()

    # Every resource's routes and services (api/resources/), and the API's
    # own (OpenAPI, audit, metrics): no list here names them.
    declared = tables()
    app = Starlette(
        routes=list(declared.routes),
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(metrics.MetricsMiddleware, metrics=api_state.metrics),
            Middleware(
                BodyLimitMiddleware, max_bytes=max_json_body_bytes, exempt=image_data.is_upload
            ),
            Middleware(MicroversionMiddleware, services=declared.microversions()),
        ],
        # Refusals are recorded for audit on their way out (api/audit.py).
        exception_handlers={**EXCEPTION_HANDLERS, DomainError: audit.audited(domain_error)},
        lifespan=lifespan,
    )
    app.state.api = api_state
    return app


def build_state(settings: Settings) -> ApiState:
    reads = AsyncReader(settings.database_url, options=settings.database_limits.libpq_options())
    services = build_services(settings)
    revoked = RevocationList(reads, settings.token_lifetime_s)
    policy = Policy(settings.policy_file)
    api_metrics = ApiMetrics(read_scrape_token(settings.metrics_token_file))
    api_metrics.registry.register(
        PipelineCollector(
            settings.database_url,
            settings.redis_url,
            services.app.mapper.to_domain_event,
            settings.database_limits.libpq_options(),
        )
    )
    return ApiState(
        services=services,
        tokens=TokenCodec(settings.token_key(), settings.token_lifetime_s),
        revocations=revoked,
        policy=policy,
        progress=ProjectionProgress(
            settings.database_url,
            [v.name for v in VIEW_CLASSES],
            on_move={RevocationsView.name: revoked.refresh},
        ),
        reads=reads,
        heartbeats=Heartbeats(settings.redis_url, settings.service_down_time_s),
        host_calls=HostCalls(settings.redis_url),
        admission=Admission(
            reads,
            settings.max_in_flight,
            settings.max_project_in_flight,
            on_refused=api_metrics.count_refusal,
        ),
        boots=AsyncBatcher(services.boot_servers, prepare=AutoNetworks(reads)),
        actions=AsyncBatcher(services.server_actions),
        image_protections=load_protections(settings, policy),
        rejections=PostgresRejections(postgres_recorder(services.app).datastore),
        metrics=api_metrics,
        network=NetworkApiState.build(services.app, metadata_secret(settings.state_dir)),
    )


def load_protections(settings: Settings, policy: Policy) -> PropertyProtections | None:
    """The operator's property protection file, or None (nothing enforced).
    ProtectionFileError if it is set but missing or malformed: the API does
    not start, as glance-api does not."""
    path = settings.property_protection_file
    if path is None:
        return None
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProtectionFileError(f"property protection file {path}: {exc.strerror}") from None
    fmt = settings.property_protection_rule_format
    protections = PropertyProtections.parse(text, fmt, str(path))
    if fmt == "policies":
        unknown = sorted(n for n in protections.rule_names() if not policy.knows(n))
        if unknown:
            raise ProtectionFileError(f"{path}: no policy rule named {unknown[0]!r}")
        protections.check_rule = policy.allowed_rule
    return protections


def app_from_env() -> Starlette:
    settings = Settings.from_env()
    configure_logging("api", settings.log_format, settings.log_level)
    return create_app(build_state(settings), settings.max_json_body_bytes)
