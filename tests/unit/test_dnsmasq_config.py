"""What a network's dnsmasq is started with and reads (issue 21)."""

from pathlib import Path

import pytest

from workers.drivers.dnsmasq_config import (
    DhcpFiles,
    dnsmasq_argv,
    hosts_file,
    opts_file,
    read_leases,
    release_packet,
)
from workers.drivers.errors import PermanentDriverError
from workers.drivers.network_specs import DhcpHost, DhcpService, DhcpSubnet
from workers.drivers.network_types import PortBinding, Segment

NET = "6a1f0c3e-1d2b-4c5a-9e8f-7a6b5c4d3e2f"
SEG = Segment(NET, "vxlan", 7, mtu=1450)
PORT = PortBinding("d0d0d0d0-1111-4222-8333-444455556666", SEG, "fa:16:3e:dd:00:01")
SERVICE = DhcpService(PORT, "10.0.0.2", DhcpSubnet("10.0.0.0/24", "10.0.0.1", ("9.9.9.9",)))


def test_dnsmasq_serves_static_leases_on_its_interface_only_and_no_dns() -> None:
    argv = dnsmasq_argv(SERVICE, DhcpFiles(Path("/s")), "ns-d0d0d0d01111")

    assert argv[0] == "dnsmasq"
    assert "--port=0" in argv and "--bind-interfaces" in argv
    assert "--interface=ns-d0d0d0d01111" in argv
    assert "--dhcp-range=set:subnet0,10.0.0.0,static,255.255.255.0,86400s" in argv
    assert "--dhcp-hostsfile=/s/hosts" in argv and "--pid-file=/s/pid" in argv
    assert "--conf-file=/dev/null" in argv  # nothing from /etc/dnsmasq.conf


def test_hosts_file_has_one_sorted_line_per_port() -> None:
    hosts = [
        DhcpHost("9d8c7b6a-5f4e-4d3c-8b2a-0f1e2d3c4b5a", "fa:16:3e:00:00:02", "10.0.0.12", "b"),
        DhcpHost("3c2b1a09-8f7e-4d6c-9b5a-1f2e3d4c5b6a", "FA:16:3E:00:00:01", "10.0.0.11", "a"),
    ]

    assert hosts_file(hosts) == "fa:16:3e:00:00:01,10.0.0.11,a\nfa:16:3e:00:00:02,10.0.0.12,b\n"


@pytest.mark.parametrize(
    "hostname", ["a,b", "a\nfa:16:3e:00:00:09,10.0.0.9,evil", "-x", "a b", "", "x" * 64]
)
def test_a_hostname_that_could_break_the_hosts_file_is_refused(hostname: str) -> None:
    with pytest.raises(PermanentDriverError):
        DhcpHost("3c2b1a09-8f7e-4d6c-9b5a-1f2e3d4c5b6a", "fa:16:3e:00:00:01", "10.0.0.1", hostname)


def test_options_give_router_mtu_dns_and_the_metadata_route_with_the_default_one() -> None:
    assert opts_file(SERVICE).splitlines() == [
        "tag:subnet0,option:mtu,1450",
        "tag:subnet0,option:router,10.0.0.1",
        "tag:subnet0,option:classless-static-route,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1",
        "tag:subnet0,option:dns-server,9.9.9.9",
    ]


def test_a_subnet_without_gateway_sends_an_empty_router_option() -> None:
    service = DhcpService(PORT, "10.0.0.2", DhcpSubnet("10.0.0.0/24"), metadata=False)

    assert opts_file(service).splitlines() == [
        "tag:subnet0,option:mtu,1450",
        "tag:subnet0,option:router",
    ]


def test_a_server_address_outside_its_subnet_is_refused() -> None:
    with pytest.raises(PermanentDriverError):
        DhcpService(PORT, "10.9.9.9", DhcpSubnet("10.0.0.0/24"))


def test_leases_are_read_by_mac() -> None:
    text = "1700000000 fa:16:3e:00:00:01 10.0.0.11 vm-one 01:fa:16:3e:00:00:01\n"

    assert read_leases(text) == {"fa:16:3e:00:00:01": "10.0.0.11"}


def test_a_release_names_the_client_its_address_and_the_server() -> None:
    packet = release_packet("fa:16:3e:00:00:01", "10.0.0.11", "10.0.0.2", 0x01020304)

    assert packet[0] == 1 and packet[4:8] == bytes([1, 2, 3, 4])
    assert packet[12:16] == bytes([10, 0, 0, 11])  # ciaddr
    assert packet[28:34] == bytes.fromhex("fa163e000001")  # chaddr
    assert packet[236:240] == b"\x63\x82\x53\x63"
    assert packet[240:] == bytes([53, 1, 7, 54, 4, 10, 0, 0, 2, 255])
