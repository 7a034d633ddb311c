"""The Networking API's rules are declared by its resource, spelled with
the same personas as the rest, an admin-only rule per admin-only attribute."""

from __future__ import annotations

from api import policy
from api.resources import network


def test_the_network_rules_are_the_networking_resources() -> None:
    rules = network.RESOURCE.rules()
    assert set(rules) == set(network.POLICY)
    assert {name.partition(":")[0] for name in rules} == {"network"}
    admin_only = {name for name, rule in rules.items() if rule.check == policy.ADMIN}
    assert "network:create_network:shared" in admin_only
    assert "network:get_port:binding" in admin_only
    assert "network:create_port" not in admin_only
    assert rules["network:create_port"].check == policy.MEMBER
    assert rules["network:get_port"].check == policy.READER
