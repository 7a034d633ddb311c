"""Server group policies: hard ones filter hosts, soft ones only weigh."""

import pytest

from domain.errors import InvalidInput
from domain.server_group import ServerGroup
from domain.values import SYSTEM


def _group(policy: str) -> ServerGroup:
    return ServerGroup(project_id="p", user_id="u", name="g", policy=policy, actor=SYSTEM)


@pytest.mark.parametrize(
    ("policy", "host", "others", "allowed", "preferred"),
    [
        ("affinity", "h1", [], True, False),
        ("affinity", "h1", ["h1"], True, True),
        ("affinity", "h2", ["h1"], False, False),
        ("anti-affinity", "h1", ["h1"], False, False),
        ("anti-affinity", "h2", ["h1"], True, True),
        ("soft-affinity", "h2", ["h1"], True, False),
        ("soft-anti-affinity", "h1", ["h1"], True, False),
        ("soft-anti-affinity", "h2", ["h1"], True, True),
    ],
)
def test_policies(
    policy: str, host: str, others: list[str], allowed: bool, preferred: bool
) -> None:
    group = _group(policy)
    assert group.allows(host, others) is allowed
    assert group.prefers(host, others) is preferred


def test_an_unknown_policy_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="policy"):
        ServerGroup.validate("g", "together-ish")
