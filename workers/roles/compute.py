"""The compute role: one process per compute host, next to its libvirt. It
restores the host's domains from the ledger before taking jobs, and keeps
the image cache and the power states in line from threads of its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path

import libvirt

from commands.bootstrap import Settings, build_app
from commands.loading import load
from domain.host import ComputeHost
from workers.drivers.chap import load_or_create_key
from workers.drivers.console import FileConsole
from workers.drivers.disks import QemuImgDiskStore
from workers.drivers.embedded_qemu import open_embedded_qemu, qemu_domain_type
from workers.drivers.hypervisor import LibvirtHypervisor
from workers.drivers.image_cache import DirectoryImageCache
from workers.drivers.runner import SubprocessRunner
from workers.drivers.volume_connector import QsdConnector
from workers.image_fetch import HttpImageFetcher, HttpImageUploader
from workers.jobs import image_cache, power_sync
from workers.jobs.compute import restore_host
from workers.roles.network import host_namespace
from workers.runtime import ComputeContext
from workers.service_auth import ServiceCredentials, ServiceToken, service_user_name

log = logging.getLogger(__name__)


def build_compute(
    settings: Settings, host_name: str | None, environ: Mapping[str, str]
) -> ComputeContext:
    """The host's context, its domains restored from the ledger, its upkeep started."""
    if not host_name:
        raise SystemExit("a compute worker serves one host: give --host")
    # libvirt prints every error to stderr by default, even ones we handle
    # (e.g. "domain not found" while making sure a domain is absent).
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn, domain_type = _hypervisor_connection(settings, host_name, environ)
    app = build_app(settings.database_url, pool_size=2, limits=settings.database_limits)
    token = service_token(settings, "compute")
    disks = settings.state_dir / "hosts" / host_name / "disks"
    context = ComputeContext(
        app=app,
        name=host_name,
        hypervisor=LibvirtHypervisor(
            conn,
            domain_type,
            settings.shutdown_timeout_s,
            netns=host_namespace(settings, host_name),  # with the real network driver
            connector=QsdConnector(
                settings.state_dir / "hosts" / host_name / "volumes", SubprocessRunner()
            ),
        ),
        disks=QemuImgDiskStore(disks),
        fetch_image=HttpImageFetcher(settings.api_url, token),
        images=DirectoryImageCache(disks),
        console=FileConsole(settings.state_dir / "hosts" / host_name / "console"),
        upload_image=HttpImageUploader(settings.api_url, token),
        transfers=settings.state_dir / "transfers",
        remove_unknown_domains=settings.unknown_domain_action == "reap",
        chap_key=load_or_create_key(settings.storage_key_file),
    )
    host = load(app, ComputeHost, ComputeHost.create_id(host_name), f"Host {host_name}")
    restored = restore_host(context, sorted(host.instances_claimed()))
    log.info("compute %s: restored %d domains from the ledger", host_name, restored)
    _start_upkeep(settings, host_name)
    return context


def _start_upkeep(settings: Settings, host_name: str) -> None:
    """Cache pruning and the power sync, as jobs through this host's own
    queue, in turn with its spawns (the threads end with the process)."""
    prune = image_cache.prune_periodically(
        settings.redis_url,
        host_name,
        settings.image_cache_interval_s,
        settings.image_cache_max_age_s,
        threading.Event(),
    )
    threading.Thread(target=prune, name="image-cache", daemon=True).start()
    sync = power_sync.sync_periodically(
        settings.redis_url, host_name, settings.power_sync_interval_s, threading.Event()
    )
    threading.Thread(target=sync, name="power-sync", daemon=True).start()


def service_token(settings: Settings, role: str) -> ServiceToken:
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
