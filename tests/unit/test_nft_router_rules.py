"""A router's NAT table as nftables text (issue 21)."""

from dataclasses import replace

from workers.drivers.network_specs import (
    FloatingIp,
    RouterGateway,
    RouterInterface,
    RouterSpec,
)
from workers.drivers.network_types import PortBinding, Segment
from workers.drivers.nft_router import leg_name, nat_ruleset

TENANT = Segment("6a1f0c3e-1d2b-4c5a-9e8f-7a6b5c4d3e2f", "vxlan", 10)
EXTERNAL = Segment("ee000000-0000-4000-8000-0000000000ee", "flat", physical_network="external")
INSIDE = RouterInterface(
    PortBinding("10000000-0000-4000-8000-000000000001", TENANT, "fa:16:3e:00:01:01"),
    "10.0.0.1",
    24,
)
GATEWAY = RouterGateway(
    PortBinding("90000000-0000-4000-8000-000000000009", EXTERNAL, "fa:16:3e:00:09:09"),
    "198.51.100.10",
    24,
    "198.51.100.1",
)
ROUTER = "e0000000-0000-4000-8000-0000000000e1"


def test_the_table_is_replaced_whole_with_dnat_and_snat_for_each_floating_ip() -> None:
    spec = RouterSpec(ROUTER, (INSIDE,), GATEWAY, (FloatingIp("198.51.100.20", "10.0.0.11"),))

    lines = [line.strip() for line in nat_ruleset(spec).splitlines()]

    assert lines[:2] == ["add table ip cloudledger_router", "delete table ip cloudledger_router"]
    assert "ip daddr 198.51.100.20 dnat to 10.0.0.11" in lines
    out = leg_name("qg", GATEWAY.port)
    assert out == "qg-900000000000"
    fip_snat = f'ip saddr 10.0.0.11 oifname "{out}" snat to 198.51.100.20'
    subnet_snat = f'ip saddr {{ 10.0.0.0/24 }} oifname "{out}" snat to 198.51.100.10'
    assert lines.index(fip_snat) < lines.index(subnet_snat)  # a floating IP wins


def test_without_snat_only_floating_ips_are_translated() -> None:
    spec = RouterSpec(ROUTER, (INSIDE,), replace(GATEWAY, snat=False))

    assert "snat to 198.51.100.10" not in nat_ruleset(spec)


def test_a_router_without_gateway_has_no_nat_table() -> None:
    assert nat_ruleset(RouterSpec(ROUTER, (INSIDE,))).splitlines() == [
        "add table ip cloudledger_router",
        "delete table ip cloudledger_router",
    ]
