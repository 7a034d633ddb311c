"""Composition root of the relay and of the worker processes (each role's
context is built by the builder its resource names: workers/roles/)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import get_type_hints

from redis import Redis

from commands.app import CloudApp
from commands.bootstrap import Settings, build_app, eventsourcing_env
from projections.bootstrap import build_view, postgres_recorder
from projections.follower import LogRunner
from workers import routes, rq_worker
from workers.declarations import Role
from workers.dispatch import Relay
from workers.heartbeats import beat_interval
from workers.jobs.entry import resolve

log = logging.getLogger(__name__)

# How often the relay compares what it owes with what Redis holds: this bounds
# how long a flushed or restarted Redis delays owed work.
RECONCILE_EVERY_SECONDS = 2.0


def _es_env(settings: Settings) -> dict[str, str]:
    return eventsourcing_env(settings.database_url, limits=settings.database_limits)


def _app(settings: Settings) -> CloudApp:
    return build_app(settings.database_url, pool_size=2, limits=settings.database_limits)


def build_relay(settings: Settings) -> Relay:
    relay = build_view(Relay, _es_env(settings))
    relay.redis = Redis.from_url(settings.redis_url)
    return relay


def run_relay(settings: Settings, stop: threading.Event) -> None:
    """Follow the log; every few seconds re-enqueue jobs Redis has lost."""
    app = _app(settings)
    relay = build_relay(settings)
    runner = LogRunner(
        "relay",
        postgres_recorder(app),
        app.mapper,
        settings.database_url,
        relay.apply_batch,
        relay.position,
        Relay.topics,
    )
    threading.Thread(target=_reconcile_loop, args=(relay, stop), daemon=True).start()
    threading.Thread(target=_flush_loop, args=(relay, stop), daemon=True).start()
    runner.run(stop)


# How often held items are offered to their queue again (workers/coalesce.py).
FLUSH_EVERY_SECONDS = 0.003


def _flush_loop(relay: Relay, stop: threading.Event) -> None:
    """Send held items as soon as their queue's worker takes its last batch."""
    while not stop.wait(FLUSH_EVERY_SECONDS if relay.coalescer.holding() else 0.05):
        if relay.coalescer.holding():
            relay.flush()


def _reconcile_loop(relay: Relay, stop: threading.Event) -> None:
    """At start, then every few seconds; a down Redis or database is waited out."""
    while True:
        try:
            relay.reconcile(older_than_seconds=1.0)
        except Exception as exc:
            log.warning("reconcile failed (%s); will try again", exc)
        if stop.wait(RECONCILE_EVERY_SECONDS):
            return


def serve(
    role: Role, settings: Settings, host_name: str | None, environ: Mapping[str, str] = os.environ
) -> None:
    """Run one worker of ``role`` (for ``host_name`` if it is per host),
    which also serves the queues of the roles that join it on that host:
    each queue's jobs run with the context its own role's builder made."""
    if (why := refusal(role, host_name)) is not None:
        raise SystemExit(why)
    if role.per_host and not host_name:
        raise SystemExit(f"a {role.name} worker serves one host: give --host")
    contexts = host_contexts(
        role, host_name, lambda r: build_context(r, settings, host_name, environ)
    )
    name = f"{role.name}-{host_name}" if role.per_host else role.name
    # Jobs run in this process: the libvirt connection (and the test driver's
    # in-memory domains), the fake network drivers and the aggregate cache
    # live across jobs. Nothing reads a joined role's beat: one is enough.
    rq_worker.work(settings.redis_url, contexts, name, beat_interval(settings.service_down_time_s))


def refusal(role: Role, host_name: str | None) -> str | None:
    """Why ``role`` does not run alone, naming what serves it; None if it may."""
    if role.joins is None:
        return None
    return (
        f"the {role.name} queue of a host is served by that host's {role.joins.name} "
        f"process: run cloudledger worker {role.joins.name} --host {host_name or 'H'}"
    )


def build_context(
    role: Role, settings: Settings, host_name: str | None, environ: Mapping[str, str]
) -> object:
    """The context ``role``'s builder makes, of the type it is annotated to return."""
    build = resolve(role.build)
    context = build(settings, host_name, environ)
    expected = get_type_hints(build).get("return")
    if isinstance(expected, type) and not isinstance(context, expected):
        raise TypeError(f"{role.build} built a {type(context).__name__}")
    return context


def host_contexts(
    role: Role,
    host_name: str | None,
    build: Callable[[Role], object],
    roles: Iterable[Role] | None = None,
) -> dict[str, object]:
    """Queue -> context for the process of ``role``: its own queue first,
    then those of the roles that join it (``roles``: every role by default),
    whose contexts its own context is given as neighbours."""
    primary = build(role)
    joined = [r for r in (routes.ROLES if roles is None else roles) if r.joins == role.family]
    if not joined:
        return {role.family.queue(host_name): primary}
    with_neighbours = getattr(primary, "with_neighbours", None)
    if with_neighbours is None:
        names = ", ".join(r.name for r in joined)
        raise TypeError(f"{type(primary).__name__} has no with_neighbours, yet {names} join it")
    neighbours = {r.family.queue(host_name): build(r) for r in joined}
    return {role.family.queue(host_name): with_neighbours(tuple(neighbours.values())), **neighbours}


def role(name: str) -> Role:
    """A worker role by name (every resource's roles: workers/routes.py)."""
    return routes.ROUTING.role(name)
