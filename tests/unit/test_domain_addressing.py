"""Subnet address arithmetic: CIDRs and pools checked as Neutron checks
them, and free addresses chosen without ever listing a range."""

from __future__ import annotations

import ipaddress

import pytest

from domain.addressing import (
    checked_pools,
    default_pools,
    eui64_address,
    next_free,
    parse_cidr,
    pool_spans,
)
from domain.errors import Conflict, InvalidInput
from domain.network_values import AllocationPool


def _int(address: str) -> int:
    return int(ipaddress.ip_address(address))


def test_a_cidr_with_host_bits_is_refused_naming_the_one_meant() -> None:
    with pytest.raises(InvalidInput, match=r"'10\.0\.0\.0/24' is recommended"):
        parse_cidr("10.0.0.5/24")


@pytest.mark.parametrize("bad", ["10.0.0.0", "0.0.0.0/0", "10.0.0.0/33", "bad", "", "1" * 80])
def test_malformed_cidrs_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_cidr(bad)


def test_default_pools_leave_out_network_broadcast_and_gateway() -> None:
    cidr = ipaddress.ip_network("10.0.0.0/24")
    pools = default_pools(cidr, ipaddress.ip_address("10.0.0.1"))
    assert pools == [AllocationPool("10.0.0.2", "10.0.0.254")]
    middle = default_pools(cidr, ipaddress.ip_address("10.0.0.100"))
    assert middle == [
        AllocationPool("10.0.0.1", "10.0.0.99"),
        AllocationPool("10.0.0.101", "10.0.0.254"),
    ]


def test_pools_outside_overlapping_or_holding_the_gateway_are_refused() -> None:
    cidr = ipaddress.ip_network("10.0.0.0/24")
    gateway = ipaddress.ip_address("10.0.0.1")
    with pytest.raises(InvalidInput, match="spans beyond"):
        checked_pools(cidr, [AllocationPool("10.0.0.2", "10.0.1.5")], gateway)
    with pytest.raises(Conflict, match="overlapping"):
        checked_pools(
            cidr,
            [AllocationPool("10.0.0.2", "10.0.0.9"), AllocationPool("10.0.0.9", "10.0.0.20")],
            gateway,
        )
    with pytest.raises(Conflict, match="conflicts"):
        checked_pools(cidr, [AllocationPool("10.0.0.1", "10.0.0.9")], gateway)
    with pytest.raises(InvalidInput, match="not valid"):
        checked_pools(cidr, [AllocationPool("10.0.0.9", "10.0.0.2")], gateway)


def test_a_huge_ipv6_pool_is_checked_and_used_without_listing_it() -> None:
    cidr = ipaddress.ip_network("2001:db8::/48")
    pools = checked_pools(cidr, [AllocationPool("2001:db8::2", "2001:db8:0:ffff::ffff")], None)
    spans = pool_spans(pools)
    used = {_int("2001:db8::2"), _int("2001:db8::3")}
    assert next_free(spans, used, 0, 6) == "2001:db8::4"


def test_the_next_free_address_looks_past_the_last_one_handed_out_and_wraps() -> None:
    spans = pool_spans([AllocationPool("10.0.0.2", "10.0.0.5")])
    assert next_free(spans, set(), _int("10.0.0.3"), 4) == "10.0.0.4"
    # The freed 10.0.0.2 is handed out only after the rest are taken.
    used = {_int("10.0.0.4"), _int("10.0.0.5")}
    assert next_free(spans, used, _int("10.0.0.5"), 4) == "10.0.0.2"
    full = {_int(f"10.0.0.{n}") for n in range(2, 6)}
    assert next_free(spans, full, 0, 4) is None


def test_slaac_addresses_come_from_the_mac() -> None:
    cidr = ipaddress.ip_network("2001:db8:1::/64")
    assert eui64_address(cidr, "fa:16:3e:12:34:56") == "2001:db8:1:0:f816:3eff:fe12:3456"
