"""What a network's dnsmasq is started with and reads: its argv, its hosts
file (one static lease per port) and its options file. Pure functions of
validated values, so every line is checked by unit tests without root."""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from workers.drivers.network_specs import METADATA_ADDRESS, DhcpHost, DhcpService

DNSMASQ = "dnsmasq"
_TAG = "subnet0"


@dataclass(frozen=True)
class DhcpFiles:
    """Where one network's server keeps its state (a folder of its own)."""

    folder: Path

    @property
    def hosts(self) -> Path:
        return self.folder / "hosts"

    @property
    def opts(self) -> Path:
        return self.folder / "opts"

    @property
    def leases(self) -> Path:
        return self.folder / "leases"

    @property
    def pid(self) -> Path:
        return self.folder / "pid"

    @property
    def log(self) -> Path:
        return self.folder / "log"

    @property
    def record(self) -> Path:
        """The entries as given (port ids included), which the hosts file
        cannot carry: what list_services reports."""
        return self.folder / "hosts.json"


def dnsmasq_argv(service: DhcpService, files: DhcpFiles, interface: str) -> list[str]:
    """dnsmasq serving static leases only, on ``interface`` only, no DNS."""
    net = ipaddress.ip_network(service.subnet.cidr)
    return [
        DNSMASQ,
        "--conf-file=/dev/null",
        "--no-hosts",
        "--no-resolv",
        "--port=0",  # DHCP only: guests get the subnet's name servers
        "--bind-interfaces",
        f"--interface={interface}",
        "--except-interface=lo",
        "--dhcp-authoritative",
        f"--dhcp-range=set:{_TAG},{net.network_address},static,{net.netmask},"
        f"{service.subnet.lease_seconds}s",
        f"--dhcp-hostsfile={files.hosts}",
        f"--dhcp-optsfile={files.opts}",
        f"--dhcp-leasefile={files.leases}",
        f"--pid-file={files.pid}",
        f"--log-facility={files.log}",
        "--log-dhcp",
        "--user=nobody",
        "--group=nogroup",
    ]


def hosts_file(hosts: Iterable[DhcpHost]) -> str:
    """One ``MAC,IP,hostname`` line per port, sorted (stable bytes)."""
    lines = sorted(f"{h.mac},{h.ip},{h.hostname}" for h in hosts)
    return "".join(line + "\n" for line in lines)


def opts_file(service: DhcpService) -> str:
    """Router, name servers, MTU and the route to the metadata address.

    With a classless static route (option 121) a client ignores the router
    option, so the default route is repeated there. No gateway sends an
    empty router option: otherwise dnsmasq names itself the router.
    """
    subnet = service.subnet
    lines = [f"tag:{_TAG},option:mtu,{service.port.segment.mtu}"]
    routes = []
    if service.metadata:
        routes.append(f"{METADATA_ADDRESS}/32,{service.address}")
    if subnet.gateway_ip:
        lines.append(f"tag:{_TAG},option:router,{subnet.gateway_ip}")
        routes.append(f"0.0.0.0/0,{subnet.gateway_ip}")
    else:
        lines.append(f"tag:{_TAG},option:router")
    if routes:
        lines.append(f"tag:{_TAG},option:classless-static-route," + ",".join(routes))
    if subnet.dns_nameservers:
        lines.append(f"tag:{_TAG},option:dns-server," + ",".join(subnet.dns_nameservers))
    return "".join(line + "\n" for line in lines)


def read_leases(text: str) -> dict[str, str]:
    """MAC -> address from a dnsmasq lease file (expiry MAC IP name client-id)."""
    leases = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            leases[fields[1].lower()] = fields[2]
    return leases


def release_packet(mac: str, ip: str, server: str, xid: int) -> bytes:
    """A DHCPRELEASE from ``mac`` for ``ip`` to ``server`` (as dnsmasq-utils'
    dhcp_release sends): the server drops the lease at once."""
    chaddr = bytes.fromhex(mac.replace(":", "")).ljust(16, b"\0")
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s",
        1,  # BOOTREQUEST
        1,  # Ethernet
        6,
        0,
        xid,
        0,
        0,
        socket.inet_aton(ip),  # ciaddr: the address given back
        bytes(4),
        bytes(4),
        bytes(4),
        chaddr,
    )
    options = bytes([53, 1, 7, 54, 4]) + socket.inet_aton(server) + bytes([255])
    return header + bytes(64 + 128) + b"\x63\x82\x53\x63" + options
