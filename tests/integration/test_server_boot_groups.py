"""What tempest's guest login relies on, over HTTP: a boot's
``security_groups`` (by name or id) are the groups of the ports made for
it, as in Nova, so a group letting SSH in reaches the guest, and the
server shows their names; an unknown or
another project's group is 400 with nothing made; and os-interface shows
Nova's attachment fields only (tempest's schema allows no others)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from integration.network_rig import COMPUTE, NET, Rig, boot_body, running_rig

from ops.postgres import PrivateCluster


@pytest.fixture(scope="module")
def rig(
    pg_cluster: PrivateCluster, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rig]:
    with running_rig(pg_cluster, template_database, str(tmp_path_factory.mktemp("sg"))) as rig:
        yield rig


def _group(rig: Rig, user: str, name: str) -> dict[str, Any]:
    body = {"security_group": {"name": name}}
    return dict(rig.ok(user, "POST", f"{NET}/security-groups", json=body)["security_group"])


def _boot(rig: Rig, groups: list[str]) -> Any:
    body = boot_body(rig, [{"uuid": rig.named("alice", "networks", "private")["id"]}])
    body["server"]["security_groups"] = [{"name": g} for g in groups]
    return rig.call("alice", "POST", f"{COMPUTE}/servers", json=body)


def _port_groups(rig: Rig, server_id: str) -> set[str]:
    (port,) = rig.ok("alice", "GET", f"{NET}/ports?device_id={server_id}")["ports"]
    return set(port["security_groups"])


def test_a_boot_s_groups_by_name_or_id_are_its_port_s_and_the_answer_names_them(
    rig: Rig,
) -> None:
    ssh = _group(rig, "alice", "ssh-in")
    web = _group(rig, "alice", "web-in")
    made = _boot(rig, ["ssh-in", web["id"]])
    assert made.status_code == 202, made.text
    server = made.json()["server"]
    assert server["security_groups"] == [{"name": "ssh-in"}, {"name": web["id"]}]
    assert _port_groups(rig, server["id"]) == {ssh["id"], web["id"]}

    plain = _boot(rig, []).json()["server"]  # none asked: the project's default only
    (default,) = [
        g
        for g in rig.ok("alice", "GET", f"{NET}/security-groups")["security_groups"]
        if g["name"] == "default"
    ]
    assert plain["security_groups"] == [{"name": "default"}]
    assert _port_groups(rig, plain["id"]) == {default["id"]}
    named = _boot(rig, ["default"]).json()["server"]  # the same as none
    assert named["security_groups"] == [{"name": "default"}]
    assert _port_groups(rig, named["id"]) == {default["id"]}
    both = _boot(rig, ["default", "ssh-in"]).json()["server"]
    assert _port_groups(rig, both["id"]) == {default["id"], ssh["id"]}

    # Shown and listed afterwards by their names, as Nova does.
    shown = rig.ok("alice", "GET", f"{COMPUTE}/servers/{both['id']}")["server"]
    assert shown["security_groups"] == [{"name": "default"}, {"name": "ssh-in"}]
    listed = rig.ok("alice", "GET", f"{COMPUTE}/servers/detail")["servers"]
    (first,) = [s for s in listed if s["id"] == server["id"]]
    assert first["security_groups"] == [{"name": "ssh-in"}, {"name": "web-in"}]


def test_an_unknown_or_another_project_s_group_is_400_and_nothing_is_made(rig: Rig) -> None:
    theirs = _group(rig, "bob", "bobs-group")
    before = rig.ok("alice", "GET", f"{COMPUTE}/servers")["servers"]
    for asked in ("no-such-group", "bobs-group", theirs["id"]):
        refused = _boot(rig, [asked])
        assert refused.status_code == 400, refused.text
        assert refused.json()["badRequest"]["message"] == f"Security group {asked} not found."
    assert rig.ok("alice", "GET", f"{COMPUTE}/servers")["servers"] == before


def test_two_groups_of_one_name_need_an_id(rig: Rig) -> None:
    _group(rig, "alice", "twin")
    second = _group(rig, "alice", "twin")
    refused = _boot(rig, ["twin"])
    assert refused.status_code == 400, refused.text
    assert "use its id" in refused.json()["badRequest"]["message"]
    made = _boot(rig, [second["id"]]).json()["server"]
    assert _port_groups(rig, made["id"]) == {second["id"]}


def test_os_interface_shows_nova_s_attachment_fields_only(rig: Rig) -> None:
    server = _boot(rig, []).json()["server"]
    (port,) = rig.ok("alice", "GET", f"{NET}/ports?device_id={server['id']}")["ports"]
    listed = rig.ok("alice", "GET", f"{COMPUTE}/servers/{server['id']}/os-interface")
    shown = rig.ok("alice", "GET", f"{COMPUTE}/servers/{server['id']}/os-interface/{port['id']}")
    expected = {
        "port_id": port["id"],
        "net_id": port["network_id"],
        "mac_addr": port["mac_address"],
        "port_state": port["status"],
        "fixed_ips": [
            {"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]} for f in port["fixed_ips"]
        ],
    }
    assert listed == {"interfaceAttachments": [expected]}
    assert shown == {"interfaceAttachment": expected}
