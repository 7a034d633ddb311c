"""The Networking API's rules are spelled with the same personas as the rest."""

from __future__ import annotations

from api import policy, policy_network


def test_the_network_rules_name_the_policy_personas() -> None:
    assert (policy_network.ADMIN, policy_network.MEMBER, policy_network.READER) == (
        policy.ADMIN,
        policy.MEMBER,
        policy.READER,
    )
    assert set(policy_network.NETWORK_ACTIONS) <= set(policy.ACTIONS)
    admin_only = {r for r, check in policy_network.NETWORK_ACTIONS.items() if check == policy.ADMIN}
    assert "network:create_network:shared" in admin_only
    assert "network:get_port:binding" in admin_only
    assert "network:create_port" not in admin_only
