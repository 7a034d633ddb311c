"""Composition root of the relay and worker processes."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import libvirt
from redis import Redis

from commands.app import CloudApp
from commands.bootstrap import Settings, build_app, eventsourcing_env
from commands.loading import load
from domain.host import ComputeHost
from projections.bootstrap import build_view, postgres_recorder
from projections.follower import LogRunner
from projections.hosts import HostsView
from workers import routes, rq_worker, runtime
from workers.dispatch import Relay
from workers.drivers.console import FileConsole
from workers.drivers.disks import QemuImgDiskStore
from workers.drivers.embedded_qemu import open_embedded_qemu, qemu_domain_type
from workers.drivers.hypervisor import LibvirtHypervisor
from workers.drivers.image_cache import DirectoryImageCache
from workers.heartbeats import WorkerHeartbeats, beat_interval
from workers.image_fetch import HttpImageFetcher, HttpImageUploader
from workers.jobs import image_cache, power_sync
from workers.jobs.compute import restore_host
from workers.service_auth import ServiceCredentials, ServiceToken, service_user_name

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


def run_scheduler(settings: Settings, host_name: str | None = None) -> None:
    del host_name  # one scheduler serves every host
    app = _app(settings)
    hosts = build_view(HostsView, _es_env(settings))
    beats = WorkerHeartbeats(settings.redis_url, settings.service_down_time_s)
    runtime.install(
        runtime.SchedulerContext(
            app=app,
            hosts=hosts,
            config=settings.scheduler,
            hosts_up=_every(1.0, beats.compute_hosts_up),
        )
    )
    _work(settings, [routes.SCHEDULER.queue()], "scheduler", routes.SCHEDULER.name)


def _every(seconds: float, read: Callable[[], set[str] | None]) -> Callable[[], set[str] | None]:
    """``read``, at most once per ``seconds``: a batch need not ask Redis again."""
    cache: list[tuple[float, set[str] | None]] = []

    def cached() -> set[str] | None:
        now = time.monotonic()
        if not cache or now - cache[0][0] > seconds:
            cache[:] = [(now, read())]
        return cache[0][1]

    return cached


def run_compute(
    settings: Settings, host_name: str | None, environ: Mapping[str, str] = os.environ
) -> None:
    """One worker per compute host, next to its libvirt; restores the host's
    domains from the ledger before taking jobs."""
    if not host_name:
        raise SystemExit("a compute worker serves one host: give --host")
    # libvirt prints every error to stderr by default, even ones we handle
    # (e.g. "domain not found" while making sure a domain is absent).
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn, domain_type = _hypervisor_connection(settings, host_name, environ)
    app = _app(settings)
    token = _service_token(settings, "compute")
    disks = settings.state_dir / "hosts" / host_name / "disks"
    context = runtime.ComputeContext(
        app=app,
        name=host_name,
        hypervisor=LibvirtHypervisor(conn, domain_type, settings.shutdown_timeout_s),
        disks=QemuImgDiskStore(disks),
        fetch_image=HttpImageFetcher(settings.api_url, token),
        images=DirectoryImageCache(disks),
        console=FileConsole(settings.state_dir / "hosts" / host_name / "console"),
        upload_image=HttpImageUploader(settings.api_url, token),
        transfers=settings.state_dir / "transfers",
        remove_unknown_domains=settings.unknown_domain_action == "reap",
    )
    runtime.install(context)
    host = load(app, ComputeHost, ComputeHost.create_id(host_name), f"Host {host_name}")
    restored = restore_host(context, sorted(host.instances_claimed()))
    log.info("compute %s: restored %d domains from the ledger", host_name, restored)
    # Cache upkeep goes through this host's own queue, in turn with its spawns.
    prune = image_cache.prune_periodically(
        settings.redis_url,
        host_name,
        settings.image_cache_interval_s,
        settings.image_cache_max_age_s,
        threading.Event(),  # never set: the thread ends with the process
    )
    threading.Thread(target=prune, name="image-cache", daemon=True).start()
    sync = power_sync.sync_periodically(
        settings.redis_url, host_name, settings.power_sync_interval_s, threading.Event()
    )
    threading.Thread(target=sync, name="power-sync", daemon=True).start()
    _work(settings, [routes.COMPUTE.queue(host_name)], f"compute-{host_name}", routes.COMPUTE.name)


@dataclass(frozen=True)
class Role:
    """A kind of worker process: the queues it serves and how it starts."""

    family: routes.QueueFamily
    serve: Callable[[Settings, str | None], None]

    @property
    def name(self) -> str:
        return self.family.name

    @property
    def per_host(self) -> bool:
        return self.family.per_host


# Every worker role, once: `cloudledger worker` and `cloudledger run` use this.
ROLES: tuple[Role, ...] = (
    Role(routes.SCHEDULER, run_scheduler),
    Role(routes.COMPUTE, run_compute),
)


def role(name: str) -> Role:
    return next(r for r in ROLES if r.name == name)


def _service_token(settings: Settings, role: str) -> ServiceToken:
    """The role's own service user: workers never hold the token-signing key."""
    password = settings.service_password(role)
    return ServiceToken(ServiceCredentials(settings.api_url, service_user_name(role), password))


def _hypervisor_connection(
    settings: Settings, host_name: str, environ: Mapping[str, str]
) -> tuple[libvirt.virConnect, str]:
    """The host's libvirt connection and the domain type it runs: a URI
    given outright, the embedded QEMU driver, or the test driver."""
    uri = environ.get("CLOUDLEDGER_LIBVIRT_URI")
    asked = environ.get("CLOUDLEDGER_DOMAIN_TYPE")
    if uri is None and settings.hypervisor == "qemu":
        domain_type = qemu_domain_type(asked)
        how = "KVM" if domain_type == "kvm" else "software emulation (TCG)"
        log.warning("compute %s: real QEMU guests, %s", host_name, how)
        root = settings.state_dir / "hosts" / host_name / "qemu"
        return open_embedded_qemu(root), domain_type
    uri = uri or default_libvirt_uri(settings, host_name)
    domain_type = "test" if uri.startswith("test:") else qemu_domain_type(asked or "qemu")
    return libvirt.open(uri), domain_type


def default_libvirt_uri(settings: Settings, host_name: str) -> str:
    path: Path = settings.state_dir / "hosts" / host_name / "node.xml"
    if not path.exists():
        raise SystemExit(f"no libvirt URI for {host_name}: set CLOUDLEDGER_LIBVIRT_URI")
    return f"test://{path}"


def _work(settings: Settings, queues: list[str], name: str, family: str) -> None:
    # Jobs run in this process: the libvirt connection (and the test driver's
    # in-memory domains) and the aggregate cache live across jobs.
    beat_every_s = beat_interval(settings.service_down_time_s)
    rq_worker.work(settings.redis_url, queues, name, beat_every_s, family)
