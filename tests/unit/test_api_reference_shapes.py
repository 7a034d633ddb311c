"""Shapes of answers that follow OpenStack's reference per microversion:
the quota set and absolute limits (api/quota_resources.py), a server's
fields (api/server_microversions.py), and Glance's draft-4 patch."""

import pytest

from api.json_patch_draft4 import as_rfc6902
from api.quota_resources import absolute_limits, limits_of
from api.server_microversions import shown
from domain.errors import InvalidInput

NOVA_2_1 = {
    "instances", "cores", "ram", "floating_ips", "fixed_ips", "metadata_items", "key_pairs",
    "security_groups", "security_group_rules", "server_groups", "server_group_members",
    "injected_files", "injected_file_content_bytes", "injected_file_path_bytes",
}  # fmt: skip


def test_the_quota_set_at_2_1_is_nova_s_whole_set_and_later_ones_drop_theirs() -> None:
    assert set(limits_of({"instances": 3}, (2, 1))) == NOVA_2_1
    assert limits_of({"instances": 3}, (2, 1))["instances"] == 3
    assert "floating_ips" not in limits_of({}, (2, 36))
    assert "injected_files" in limits_of({}, (2, 36))
    assert "injected_files" not in limits_of({}, (2, 57))
    assert "networks" not in limits_of({}, (2, 1))  # Nova dropped it in Train


def test_absolute_limits_at_2_1_have_every_key_tempest_requires() -> None:
    usage = {"instances": {"limit": 10, "in_use": 2}}
    absolute = absolute_limits(usage, {"server_groups": 1}, (2, 1))
    for key in ("maxImageMeta", "maxPersonality", "maxPersonalitySize", "maxSecurityGroupRules",
                "maxSecurityGroups", "maxServerMeta", "maxTotalCores", "maxTotalFloatingIps",
                "maxTotalInstances", "maxTotalKeypairs", "maxTotalRAMSize", "totalCoresUsed",
                "totalFloatingIpsUsed", "totalInstancesUsed", "totalRAMUsed",
                "totalSecurityGroupsUsed"):  # fmt: skip
        assert key in absolute, key
    assert (absolute["totalInstancesUsed"], absolute["totalServerGroupsUsed"]) == (2, 1)
    later = absolute_limits(usage, {}, (2, 57))
    assert not {"maxImageMeta", "maxPersonality", "maxSecurityGroups"} & set(later)


def test_a_server_shows_the_fields_of_its_microversion() -> None:
    server = {"id": "s", "status": "SHUTOFF", "progress": 0, "locked": False,
              "description": None, "tags": [], "key_name": None}  # fmt: skip
    assert set(shown(server, (2, 1))) == {"id", "status", "key_name"}
    assert set(shown(server, (2, 26))) == {
        "id",
        "status",
        "key_name",
        "locked",
        "description",
        "tags",
    }
    assert set(shown(server, (2, 26), basic=True)) == {
        "id",
        "status",
        "locked",
        "description",
        "tags",
    }
    assert "progress" in shown({**server, "status": "ACTIVE"}, (2, 1))


def test_a_draft4_patch_becomes_rfc6902_operations() -> None:
    ops = as_rfc6902([{"replace": "/name", "value": "x"}, {"remove": "/k"}])
    assert ops == [{"op": "replace", "path": "/name", "value": "x"}, {"op": "remove", "path": "/k"}]
    assert as_rfc6902({"not": "a list"}) == {"not": "a list"}  # refused by the common checks
    for bad in (
        {"replace": "/a", "add": "/b", "value": 1},
        {"value": 1},
        {"op": "add", "replace": "/a"},
    ):
        with pytest.raises(InvalidInput):
            as_rfc6902([bad])


def test_nova_s_image_filters_become_the_image_list_s() -> None:
    from starlette.datastructures import QueryParams

    from api.compute_images import glance_filters

    asked = QueryParams(
        "status=ACTIVE&server=http://x/servers/abc&type=snapshot&changes-since=2026-01-01T00:00:00Z"
        "&limit=2&minRam=1"
    )
    assert list(glance_filters(asked).multi_items()) == [
        ("status", "active"),
        ("instance_uuid", "abc"),
        ("image_type", "snapshot"),
        ("updated_at", "gte:2026-01-01T00:00:00Z"),
        ("limit", "2"),
    ]
