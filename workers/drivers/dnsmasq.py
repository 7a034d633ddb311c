"""The real DhcpDriver: one dnsmasq per network, in a namespace of its own
(``<prefix>dhcp-<network id>``, so overlapping CIDRs never meet) on a veth
port of the network node's bridge, with the metadata proxy beside it.

dnsmasq serves static leases only, from a hosts file: an entry is added or
dropped by rewriting the file and sending SIGHUP, never by a restart. Each
ensure supervises the server: a dead one, or one started with other
arguments, is started again. It is always ended by its PID (read from its
pid file, and checked against its command line first)."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import random
import shutil
import signal
import socket
import stat
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from workers.drivers.dnsmasq_config import (
    DhcpFiles,
    dnsmasq_argv,
    hosts_file,
    opts_file,
    read_leases,
    release_packet,
)
from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.linux_ports import LinuxPorts
from workers.drivers.metadata_proxy import MetadataProxy
from workers.drivers.netns import (
    ensure_namespace,
    in_namespace,
    ipr,
    namespace_exists,
    namespace_pids,
    remove_namespace,
    replace_addresses,
)
from workers.drivers.network_specs import (
    METADATA_ADDRESS,
    DhcpHost,
    DhcpService,
    DhcpState,
    DhcpSubnet,
)
from workers.drivers.network_types import PortBinding, Segment, canonical_id, hex_id
from workers.drivers.processes import alive, cmdline, end_processes
from workers.drivers.runner import CommandRunner

START_TIMEOUT_S = 15.0
RELEASE_WAIT_S = 2.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetadataUpstream:
    """Where the metadata proxies forward to, and the secret they sign with."""

    url: str
    secret: bytes


class LinuxDhcp:
    """DHCP servers on the network node whose ports are ``ports``."""

    def __init__(
        self,
        ports: LinuxPorts,
        runner: CommandRunner,
        state_dir: Path,
        namespace_prefix: str,
        metadata: MetadataUpstream | None = None,
    ) -> None:
        self._ports, self._runner = ports, runner
        self._root = state_dir
        self._prefix = namespace_prefix
        self._metadata = metadata
        self._proxies: dict[str, MetadataProxy] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def ensure_host(self, service: DhcpService, host: DhcpHost) -> None:
        with self._lock(service.network_id):
            hosts = {h.port_id: h for h in self._recorded(service.network_id)[1]}
            hosts[host.port_id] = host
            self._converge(service, frozenset(hosts.values()))

    def remove_host(self, network_id: str, port_id: str) -> None:
        network_id, port_id = canonical_id(network_id), canonical_id(port_id)
        with self._lock(network_id):
            service, hosts = self._recorded(network_id)
            remaining = frozenset(h for h in hosts if h.port_id != port_id)
            if service is None or remaining == hosts:
                return
            if remaining:
                self._converge(service, remaining)
            else:
                self._remove(network_id)

    def ensure_service(self, service: DhcpService, hosts: frozenset[DhcpHost]) -> None:
        with self._lock(service.network_id):
            if hosts:
                self._converge(service, hosts)
            else:
                self._remove(service.network_id)

    def remove_service(self, network_id: str) -> None:
        network_id = canonical_id(network_id)
        with self._lock(network_id):
            self._remove(network_id)

    def list_services(self) -> list[DhcpState]:
        states = []
        folder = self._root / "dhcp"
        for network_id in sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []:
            service, hosts = self._recorded(network_id)
            if service is None:
                continue
            files = self._files(network_id)
            leases = read_leases(files.leases.read_text()) if files.leases.exists() else {}
            running = self._server_pid(files, self._argv(service)) is not None
            proxy = self._proxies.get(network_id)
            metadata = proxy is not None and proxy.running
            states.append(DhcpState(network_id, running, hosts, leases, metadata))
        return states

    def namespace(self, network_id: str) -> str:
        """The namespace the network's server (and metadata proxy) runs in."""
        return f"{self._prefix}dhcp-{canonical_id(network_id)}"

    def _converge(self, service: DhcpService, hosts: frozenset[DhcpHost]) -> None:
        namespace, files = self.namespace(service.network_id), self._files(service.network_id)
        before = self._recorded(service.network_id)[1]
        files.folder.mkdir(parents=True, exist_ok=True)
        files.folder.chmod(0o755)  # dnsmasq rereads its files as nobody
        _check_reachable_by_others(files.folder)
        ensure_namespace(namespace)
        interface = _interface(service.port)
        self._ports.ensure_veth_port(service.port, namespace, interface)
        with ipr(namespace) as ip:
            replace_addresses(ip, interface, _addresses(service))
        changed = _write(files.opts, opts_file(service)) | _write(files.hosts, hosts_file(hosts))
        _write(files.record, _record_text(service, hosts))
        argv = self._argv(service)
        pid = self._server_pid(files, argv)
        if pid is None:
            self._start(files, argv, namespace)
        elif changed:
            os.kill(pid, signal.SIGHUP)  # reread hosts and options: no restart
        dropped = before - hosts
        for host in dropped:
            self._release(namespace, interface, service.address, host)
        _await_released(files, {h.mac for h in dropped})
        self._ensure_proxy(service, namespace)

    def _start(self, files: DhcpFiles, argv: list[str], namespace: str) -> None:
        pid = _read_pid(files)
        if pid is not None and f"--pid-file={files.pid}" in cmdline(pid):
            end_processes([pid])  # ours, but started with other arguments
        files.pid.unlink(missing_ok=True)
        # dnsmasq checks its configuration, then forks into the background.
        self._runner.run(argv, netns=namespace, timeout=START_TIMEOUT_S)
        if self._server_pid(files, argv) is None:
            raise TransientDriverError(f"dnsmasq for {files.folder.name} did not stay up")

    def _server_pid(self, files: DhcpFiles, argv: list[str]) -> int | None:
        """The server's PID if it runs with exactly ``argv``."""
        pid = _read_pid(files)
        if pid is None or not alive(pid) or cmdline(pid) != argv:
            return None
        return pid

    def _remove(self, network_id: str) -> None:
        proxy = self._proxies.pop(network_id, None)
        if proxy is not None:
            proxy.stop()
        files, namespace = self._files(network_id), self.namespace(network_id)
        service, _ = self._recorded(network_id)
        pid = _read_pid(files)
        if pid is not None and f"--pid-file={files.pid}" in cmdline(pid):
            end_processes([pid])
        if namespace_exists(namespace):
            end_processes(namespace_pids(namespace))  # nothing else runs there
        if service is not None:
            self._ports.remove_port(service.port.port_id)
        remove_namespace(namespace)
        shutil.rmtree(files.folder, ignore_errors=True)

    def _release(self, namespace: str, interface: str, server: str, host: DhcpHost) -> None:
        """Send the server a DHCPRELEASE for ``host`` as if from the client
        (bound to the server's own interface, as dhcp_release does)."""
        packet = release_packet(host.mac, host.ip, server, random.getrandbits(32))

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
                sock.sendto(packet, (server, 67))

        in_namespace(namespace, send)

    def _ensure_proxy(self, service: DhcpService, namespace: str) -> None:
        proxy = self._proxies.get(service.network_id)
        if not (service.metadata and self._metadata):
            if proxy is not None:
                self._proxies.pop(service.network_id).stop()
            return
        if proxy is None or proxy.namespace != namespace:
            proxy = MetadataProxy(
                namespace, service.network_id, self._metadata.url, self._metadata.secret
            )
            self._proxies[service.network_id] = proxy
        if not proxy.running:
            proxy.start()

    def _argv(self, service: DhcpService) -> list[str]:
        files = self._files(service.network_id)
        return dnsmasq_argv(service, files, _interface(service.port))

    def _files(self, network_id: str) -> DhcpFiles:
        return DhcpFiles(self._root / "dhcp" / canonical_id(network_id))

    def _recorded(self, network_id: str) -> tuple[DhcpService | None, frozenset[DhcpHost]]:
        record = self._files(network_id).record
        if not record.exists():
            return None, frozenset()
        return _read_record(record.read_text())

    def _lock(self, network_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(canonical_id(network_id), threading.Lock())


def _check_reachable_by_others(folder: Path) -> None:
    """dnsmasq rereads its hosts file as ``nobody`` on SIGHUP: a folder on
    the way that others cannot enter would make every reload fail quietly."""
    for step in (folder, *folder.parents):
        if not step.stat().st_mode & stat.S_IXOTH:
            raise PermanentDriverError(
                f"dnsmasq (as nobody) cannot reach {folder}: {step} is closed to others"
            )


def _await_released(files: DhcpFiles, macs: set[str]) -> None:
    """Wait (briefly) until dnsmasq has written its leases without ``macs``:
    a removal returns with its lease gone. One that stays is logged, and
    reported by list_services for a reconcile to see."""
    deadline = time.monotonic() + RELEASE_WAIT_S
    while macs and time.monotonic() < deadline:
        leases = read_leases(files.leases.read_text()) if files.leases.exists() else {}
        if not macs & leases.keys():
            return
        time.sleep(0.02)
    if macs:
        log.warning("dnsmasq kept a lease of %s after its release", sorted(macs))


def _interface(port: PortBinding) -> str:
    """The server's end of its veth: ``ns-`` + 12 hex digits of its port."""
    return "ns-" + hex_id(port.port_id)[:12]


def _addresses(service: DhcpService) -> set[tuple[str, int]]:
    prefixlen = ipaddress.ip_network(service.subnet.cidr).prefixlen
    wanted = {(service.address, prefixlen)}
    if service.metadata:
        wanted.add((METADATA_ADDRESS, 32))
    return wanted


def _write(path: Path, text: str) -> bool:
    """Replace ``path`` atomically when its text differs; whether it did."""
    if path.exists() and path.read_text() == text:
        return False
    scratch = path.with_suffix(".new")
    scratch.write_text(text)
    scratch.chmod(0o644)
    scratch.replace(path)
    return True


def _read_pid(files: DhcpFiles) -> int | None:
    try:
        return int(files.pid.read_text().strip())
    except (OSError, ValueError):
        return None


def _record_text(service: DhcpService, hosts: frozenset[DhcpHost]) -> str:
    entries = sorted((asdict(h) for h in hosts), key=lambda h: h["port_id"])
    return json.dumps({"service": asdict(service), "hosts": entries}, default=sorted, indent=1)


def _read_record(text: str) -> tuple[DhcpService, frozenset[DhcpHost]]:
    record = json.loads(text)
    raw = record["service"]
    port = raw["port"]
    segment = Segment(**{**port["segment"], "vteps": frozenset(port["segment"]["vteps"])})
    servers = tuple(raw["subnet"]["dns_nameservers"])
    subnet = DhcpSubnet(**{**raw["subnet"], "dns_nameservers": servers})
    service = DhcpService(
        PortBinding(port["port_id"], segment, port["mac"]), raw["address"], subnet, raw["metadata"]
    )
    return service, frozenset(DhcpHost(**h) for h in record["hosts"])
