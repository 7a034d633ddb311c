"""The scheduler role: one process for every host, ranking hosts from the
hosts read model and the workers' heartbeats."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from commands.bootstrap import Settings, build_app, eventsourcing_env
from projections.bootstrap import build_view
from projections.hosts import HostsView
from workers.heartbeats import WorkerHeartbeats
from workers.runtime import SchedulerContext


def build_scheduler(
    settings: Settings, host_name: str | None, environ: Mapping[str, str]
) -> SchedulerContext:
    del host_name, environ  # one scheduler serves every host
    app = build_app(settings.database_url, pool_size=2, limits=settings.database_limits)
    es_env = eventsourcing_env(settings.database_url, limits=settings.database_limits)
    beats = WorkerHeartbeats(settings.redis_url, settings.service_down_time_s)
    return SchedulerContext(
        app=app,
        hosts=build_view(HostsView, es_env),
        config=settings.scheduler,
        hosts_up=every(1.0, beats.compute_hosts_up),
    )


def every(seconds: float, read: Callable[[], set[str] | None]) -> Callable[[], set[str] | None]:
    """``read``, at most once per ``seconds``: a batch need not ask Redis again."""
    cache: list[tuple[float, set[str] | None]] = []

    def cached() -> set[str] | None:
        now = time.monotonic()
        if not cache or now - cache[0][0] > seconds:
            cache[:] = [(now, read())]
        return cache[0][1]

    return cached
