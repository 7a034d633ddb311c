"""The nftables text of security-group rules (issue 21)."""

import pytest

from workers.drivers.errors import PermanentDriverError
from workers.drivers.network_specs import AddressSet, FilterRule, PortFilter
from workers.drivers.nft_firewall_rules import (
    FilteredPort,
    address_set_lines,
    dispatch,
    port_chains,
)

PORT = "b0000000-0000-4000-8000-000000000002"


def _rules(*rules: FilterRule) -> list[str]:
    lines = port_chains(
        "tapb00000000000", PortFilter(PORT, "fa:16:3e:00:00:0b", ("10.0.0.12",), rules)
    )
    return [line.split(" ", 5)[5] for line in lines if line.startswith("add rule")]


def test_a_port_without_rules_accepts_only_replies_dhcp_and_neighbour_discovery() -> None:
    rules = _rules()

    assert (
        rules[-1].startswith("drop comment")
        and rules.count("ct state established,related accept") == 2
    )
    assert "ether saddr != fa:16:3e:00:00:0b drop" in rules
    assert "ip saddr != { 10.0.0.12 } drop" in rules
    assert not any(rule.startswith("meta nfproto ipv4 meta l4proto") for rule in rules)


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (
            FilterRule("ingress", protocol="tcp", port_min=22),
            "meta nfproto ipv4 meta l4proto 6 th dport 22",
        ),
        (
            FilterRule(
                "ingress", protocol="udp", port_min=1000, port_max=2000, remotes=("10.1.0.0/16",)
            ),
            "meta nfproto ipv4 ip saddr { 10.1.0.0/16 } meta l4proto 17 th dport 1000-2000",
        ),
        (
            FilterRule("egress", remotes=("192.0.2.7",)),
            "meta nfproto ipv4 ip daddr { 192.0.2.7/32 }",
        ),
        (
            FilterRule("ingress", protocol="icmp", port_min=8, port_max=0),
            "meta nfproto ipv4 meta l4proto 1 icmp type 8 icmp code 0",
        ),
        (FilterRule("ingress", "IPv6", "icmp"), "meta nfproto ipv6 meta l4proto 58"),
    ],
)
def test_each_rule_becomes_one_accepting_match(rule: FilterRule, text: str) -> None:
    assert f"{text} accept" in _rules(rule)


GROUP = "d0000000-0000-4000-8000-00000000000d"


def test_a_remote_group_rule_matches_its_set_by_name_whatever_its_members() -> None:
    rule = FilterRule("ingress", "IPv6", "tcp", 22, 22, remote_group=GROUP)
    named = PortFilter(
        PORT, "fa:16:3e:00:00:0b", ("10.0.0.12",), (rule,), (AddressSet(GROUP, "IPv6"),)
    )
    lines = port_chains("tapb00000000000", named)

    text = "meta nfproto ipv6 ip6 saddr @sg6-d000000000004000800000000000000d meta l4proto 6"
    assert any(line.endswith(f"{text} th dport 22 accept") for line in lines)


def test_a_set_is_made_if_missing_and_refilled_in_one_step() -> None:
    members = AddressSet(GROUP, "IPv4", frozenset({"10.0.0.12", "10.0.0.5"}))

    assert address_set_lines(members) == [
        "add set inet cloudledger_sg sg4-d000000000004000800000000000000d { type ipv4_addr; }",
        "flush set inet cloudledger_sg sg4-d000000000004000800000000000000d",
        "add element inet cloudledger_sg sg4-d000000000004000800000000000000d"
        " { 10.0.0.12, 10.0.0.5 }",
    ]
    assert address_set_lines(AddressSet(GROUP))[-1].startswith("flush set")  # empty: nobody


def test_an_empty_remote_cidr_list_adds_no_rule() -> None:
    def without_comments(rules: list[str]) -> list[str]:
        return [rule for rule in rules if "comment" not in rule]

    assert without_comments(_rules(FilterRule("ingress", remotes=()))) == without_comments(_rules())


@pytest.mark.parametrize(
    "make",
    [
        lambda: FilterRule("sideways"),
        lambda: FilterRule("ingress", "IPX"),
        lambda: FilterRule("ingress", protocol="sctp; flush ruleset"),
        lambda: FilterRule("ingress", protocol="tcp", port_min=10, port_max=5),
        lambda: FilterRule("ingress", protocol=None, port_min=22),
        lambda: FilterRule("ingress", remotes=("10.0.0.0/8 } accept; {",)),
        lambda: FilterRule("ingress", remotes=("fd00::/8",)),  # IPv6 remote on an IPv4 rule
    ],
)
def test_a_rule_that_could_inject_or_make_no_sense_is_refused(make: object) -> None:
    with pytest.raises(PermanentDriverError):
        make()  # type: ignore[operator]


def test_dispatch_refills_every_map_and_marks_each_port_both_ways() -> None:
    lines = dispatch([FilteredPort("tapb00000000000", 3)], {"brq6a1f0c3e1d2b": 1})

    assert sum(line.startswith("flush map") for line in lines) == 5
    assert 'add element bridge cloudledger_sg from_port { "tapb00000000000" : 0x10000003 }' in lines
    assert (
        "add element inet cloudledger_sg ingress { 0x20000003 : jump in-tapb00000000000 }" in lines
    )
    assert 'add element inet cloudledger_sg zones { "brq6a1f0c3e1d2b" : 1 }' in lines
