"""Real QEMU guests on the real network drivers, every host a namespace of
the test's own: guests get their addresses by DHCP across VXLAN, their host
name and key from the metadata proxy, reach each other and no one on
another network with the same CIDR; the outside world reaches a floating
IP only once a security group rule allows it, and the guest leaves through
SNAT; removal leaves nothing behind. Slow (TCG guests): CI runs them."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import libvirt
import pytest
from netns_helpers import StandIn, pings, run_in

from ops.guest_images import CMDLINE, MARKER, GuestImages
from workers.drivers.dnsmasq import LinuxDhcp, MetadataUpstream
from workers.drivers.domain_interfaces import InterfaceSpec
from workers.drivers.hypervisor import DiskSpec, DomainSpec, LibvirtHypervisor
from workers.drivers.linux_ports import LinuxPorts
from workers.drivers.netns import list_namespaces, namespace_pids
from workers.drivers.netns_topology import EXTERNAL_BRIDGE, EXTERNAL_PHYSNET, NetnsTopology
from workers.drivers.network_specs import (
    DhcpHost,
    DhcpService,
    DhcpSubnet,
    FilterRule,
    FloatingIp,
    PortFilter,
    RouterGateway,
    RouterInterface,
    RouterSpec,
)
from workers.drivers.network_types import PortBinding, Segment
from workers.drivers.nft_firewall import NftFirewall
from workers.drivers.nft_router import LinuxRouters
from workers.drivers.runner import SubprocessRunner

pytest_plugins = ["netns_fixtures"]
pytestmark = pytest.mark.slow

BOOT_TIMEOUT = 180.0  # TCG on a loaded 2-core machine
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTestOnly test@cloudledger"
SUBNET = DhcpSubnet("10.0.0.0/24", "10.0.0.1", lease_seconds=600)
NODE, H1, H2 = "100.64.0.2", "100.64.0.10", "100.64.0.11"


def _metadata(seen: dict[str, str]) -> tuple[int, bytes]:
    """The API's answers, as far as the guest's init asks: by its address."""
    guest = seen.get("x-forwarded-for", "")
    if seen["path"].endswith("/meta-data/hostname"):
        return 200, f"guest-{guest.rsplit('.', 1)[-1]}".encode()
    if seen["path"].endswith("/public-keys/0/openssh-key"):
        return 200, PUBLIC_KEY.encode()
    return 404, b"not found"


@dataclass
class Host:
    ports: LinuxPorts
    firewall: NftFirewall
    hypervisor: LibvirtHypervisor
    domains: list[str] = field(default_factory=list)


@dataclass
class Cloud:
    topology: NetnsTopology
    hosts: dict[str, Host]
    node: LinuxPorts
    dhcp: LinuxDhcp
    routers: LinuxRouters
    images: GuestImages
    folder: Path


@dataclass(frozen=True)
class Guest:
    name: str
    host: str
    segment: Segment
    ip: str
    port_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def mac(self) -> str:
        return "fa:16:3e:00:00:" + self.ip.rsplit(".", 1)[-1].rjust(2, "0")[-2:]


@pytest.fixture
def cloud(
    topology: NetnsTopology,
    qemu_conn: libvirt.virConnect,
    guest_images: GuestImages,
    state_dir: Path,
) -> Iterator[Cloud]:
    standin = StandIn(_metadata)
    node = LinuxPorts(
        topology.network_namespace,
        vxlan=topology.vxlan(None),
        flat_bridges={EXTERNAL_PHYSNET: EXTERNAL_BRIDGE},
    )
    runner = SubprocessRunner()
    hosts = {
        name: Host(
            LinuxPorts(topology.host_namespace(name), vxlan=topology.vxlan(name)),
            NftFirewall(topology.host_namespace(name), runner),
            LibvirtHypervisor(qemu_conn, "qemu", 1.0, netns=topology.host_namespace(name)),
        )
        for name in topology.hosts
    }
    dhcp = LinuxDhcp(
        node, runner, state_dir, topology.prefix + "-", MetadataUpstream(standin.url, b"s")
    )
    built = Cloud(
        topology, hosts, node, dhcp, LinuxRouters(node, runner, topology.prefix + "-"),
        guest_images, state_dir,
    )  # fmt: skip
    try:
        yield built
    finally:
        for host in hosts.values():
            for name in host.domains:
                host.hypervisor.ensure_absent(name)
        for router in built.routers.list_routers():
            built.routers.remove_router(router.router_id)
        for service in dhcp.list_services():
            dhcp.remove_service(service.network_id)
        standin.close()


def _serve_dhcp(cloud: Cloud, segment: Segment, *guests: Guest) -> None:
    service = DhcpService(
        PortBinding(str(uuid.uuid5(uuid.NAMESPACE_URL, segment.network_id)), segment,
                    "fa:16:3e:dd:00:" + str(segment.segmentation_id)[-2:]),
        "10.0.0.2",
        SUBNET,
    )  # fmt: skip
    for guest in guests:
        hostname = f"guest-{guest.ip.rsplit('.', 1)[-1]}"
        cloud.dhcp.ensure_host(service, DhcpHost(guest.port_id, guest.mac, guest.ip, hostname))


def _group(*members: Guest) -> tuple[FilterRule, ...]:
    """Neutron's default group: all egress, ingress from the group's members."""
    return (FilterRule("egress"), FilterRule("ingress", remotes=tuple(m.ip for m in members)))


def _boot(cloud: Cloud, guest: Guest, rules: tuple[FilterRule, ...], ping: list[str]) -> Path:
    """Plug and filter the guest's port, then boot it; its console file."""
    host = cloud.hosts[guest.host]
    tap = host.ports.ensure_port(PortBinding(guest.port_id, guest.segment, guest.mac))
    host.firewall.ensure_filter(PortFilter(guest.port_id, guest.mac, (guest.ip,), rules))
    root = cloud.folder / f"{guest.name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "64M"], check=True)
    console = cloud.folder / f"{guest.name}.log"
    spec = DomainSpec(
        f"instance-{guest.name}",
        str(uuid.uuid4()),
        1,
        256,
        (DiskSpec(str(root), "vda"),),
        kernel=str(cloud.images.kernel),
        initrd=str(cloud.images.initrd),
        cmdline=f"{CMDLINE} cloudledger.ping={','.join(ping)}",
        console_path=str(console),
        interfaces=(InterfaceSpec(tap, guest.mac),),
    )
    host.domains.append(spec.name)
    host.hypervisor.ensure_running(spec)
    return console


def _console_until(console: Path, *texts: str) -> str:
    deadline = time.monotonic() + BOOT_TIMEOUT
    seen = ""
    while time.monotonic() < deadline:
        seen = console.read_text(errors="replace") if console.exists() else ""
        if all(text in seen for text in texts):
            return seen
        time.sleep(0.2)
    pytest.fail(f"{console.name} never showed {texts}: {seen[-3000:]!r}")


def _unplug(cloud: Cloud, *guests: Guest) -> None:
    for guest in guests:
        host = cloud.hosts[guest.host]
        host.hypervisor.ensure_absent(f"instance-{guest.name}")
        host.firewall.remove_filter(guest.port_id)
        host.ports.remove_port(guest.port_id)
        cloud.dhcp.remove_host(guest.segment.network_id, guest.port_id)


def test_guests_of_one_network_reach_each_other_across_hosts_and_no_one_else(
    cloud: Cloud,
) -> None:
    net_a = Segment(str(uuid.uuid4()), "vxlan", 5001, vteps=frozenset({NODE, H1, H2}))
    net_b = Segment(str(uuid.uuid4()), "vxlan", 5002, vteps=frozenset({NODE, H1}))
    g1, g2 = Guest("g1", "h1", net_a, "10.0.0.11"), Guest("g2", "h2", net_a, "10.0.0.12")
    g3 = Guest("g3", "h1", net_b, "10.0.0.13")  # same CIDR, another tenant's network
    _serve_dhcp(cloud, net_a, g1, g2)
    _serve_dhcp(cloud, net_b, g3)

    c1 = _boot(cloud, g1, _group(g1, g2), ["10.0.0.12"])
    c2 = _boot(cloud, g2, _group(g1, g2), ["10.0.0.11"])
    c3 = _boot(cloud, g3, _group(g3), ["10.0.0.11", "10.0.0.12"])

    seen = _console_until(c1, "eth0 address 10.0.0.11/24", "ping 10.0.0.12 ok")
    assert MARKER in seen and "cloudledger-guest: hostname guest-11" in seen
    assert f"cloudledger-guest: public key {PUBLIC_KEY}" in seen
    _console_until(c2, "eth0 address 10.0.0.12/24", "hostname guest-12", "ping 10.0.0.11 ok")
    third = _console_until(c3, "eth0 address 10.0.0.13/24", "ping 10.0.0.11 fails",
                           "ping 10.0.0.12 fails")  # fmt: skip
    time.sleep(3)  # g1 and g2 answer each other meanwhile; still nothing for g3
    third = c3.read_text(errors="replace")
    assert "ping 10.0.0.11 ok" not in third and "ping 10.0.0.12 ok" not in third
    h1, h2 = cloud.topology.host_namespace("h1"), cloud.topology.host_namespace("h2")
    assert (len(namespace_pids(h1)), len(namespace_pids(h2))) == (2, 1)  # QEMU where it belongs

    _unplug(cloud, g1, g2, g3)

    for host in (h1, h2, cloud.topology.network_namespace):
        links = run_in(host, "ip", "-br", "link").stdout
        assert not any(word in links for word in ("tap", "brq", "vxlan-")), links
        assert "jump" not in run_in(host, "nft", "list", "ruleset").stdout
    assert namespace_pids(h1) == namespace_pids(h2) == []
    assert list_namespaces(cloud.topology.prefix + "-dhcp") == []
    assert cloud.dhcp.list_services() == [] and list((cloud.folder / "dhcp").iterdir()) == []


def test_a_floating_ip_reaches_a_guest_only_once_a_rule_allows_it(cloud: Cloud) -> None:
    topo = cloud.topology
    net = Segment(str(uuid.uuid4()), "vxlan", 5003, vteps=frozenset({NODE, H1}))
    external = Segment(str(uuid.uuid4()), "flat", physical_network=EXTERNAL_PHYSNET)
    guest = Guest("fip", "h1", net, "10.0.0.11")
    router = RouterSpec(
        str(uuid.uuid4()),
        (RouterInterface(PortBinding(str(uuid.uuid4()), net, "fa:16:3e:00:01:01"),
                         "10.0.0.1", 24),),
        RouterGateway(PortBinding(str(uuid.uuid4()), external, "fa:16:3e:00:09:09"),
                      "198.51.100.10", 24, topo.external_gateway),
        (FloatingIp("198.51.100.20", guest.ip),),
    )  # fmt: skip
    _serve_dhcp(cloud, net, guest)
    cloud.routers.ensure_router(router)

    console = _boot(cloud, guest, _group(guest), [topo.external_gateway])

    _console_until(console, "eth0 address 10.0.0.11/24", f"ping {topo.external_gateway} ok")
    assert not pings(topo.external_namespace, "198.51.100.20", count=2)  # the group refuses
    rules = (*_group(guest), FilterRule("ingress", protocol="icmp"))
    cloud.hosts["h1"].firewall.ensure_filter(
        PortFilter(guest.port_id, guest.mac, (guest.ip,), rules)
    )
    assert pings(topo.external_namespace, "198.51.100.20", count=2)

    cloud.routers.ensure_router(replace(router, floating_ips=()))  # disassociated
    assert not pings(topo.external_namespace, "198.51.100.20", count=2)
    assert "fails" not in console.read_text()  # SNAT through the router's address still

    _unplug(cloud, guest)
    cloud.routers.remove_router(router.router_id)
    assert list_namespaces(topo.prefix + "-router") == []
    assert cloud.node.list_ports() == [] and cloud.node.list_segments() == []
