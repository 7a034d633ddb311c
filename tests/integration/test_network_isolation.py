"""Tenant isolation and hostile input on the Networking API (issue 21):
another project's resource answers exactly as an unknown one, on every
route and in every field that takes an id; readers and tenants set nothing
they may not; malformed input is refused in Neutron's error shape; and in
every case nothing is appended to the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from integration.helpers import rows
from integration.network_rig import COMPUTE, NET, Rig, bobs_network, boot_body, running_rig

from ops.postgres import PrivateCluster


@pytest.fixture(scope="module")
def rig(
    pg_cluster: PrivateCluster, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rig]:
    with running_rig(pg_cluster, template_database, str(tmp_path_factory.mktemp("iso"))) as rig:
        yield rig


def _position(rig: Rig) -> int:
    return int(rows(rig.url, "SELECT max(notification_id) AS n FROM cloudledger_events")[0]["n"])


def _alices_network(
    rig: Rig, name: str, cidr: str = "10.50.0.0/24"
) -> tuple[dict[str, Any], dict[str, Any]]:
    network = rig.ok("alice", "POST", f"{NET}/networks", json={"network": {"name": name}})[
        "network"
    ]
    body = {"subnet": {"network_id": network["id"], "cidr": cidr, "ip_version": 4}}
    subnet = rig.ok("alice", "POST", f"{NET}/subnets", json=body)["subnet"]
    return network, subnet


def _error(response: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["NeutronError"]
    assert set(error) == {"type", "message", "detail"}
    if kind is not None:
        assert error["type"] == kind, error
    return dict(error)


# Isolation ---------------------------------------------------------------------------


def _alices_things(rig: Rig) -> dict[str, str]:
    network, subnet = _alices_network(rig, "secret", "10.52.0.0/24")
    port = rig.ok("alice", "POST", f"{NET}/ports", json={"port": {"network_id": network["id"]}})
    router = rig.ok("alice", "POST", f"{NET}/routers", json={"router": {"name": "r"}})
    public = rig.named("alice", "networks", "public")["id"]
    fip = rig.ok(
        "alice", "POST", f"{NET}/floatingips", json={"floatingip": {"floating_network_id": public}}
    )
    group = rig.ok(
        "alice", "POST", f"{NET}/security-groups", json={"security_group": {"name": "g"}}
    )
    rule = {"security_group_id": group["security_group"]["id"], "direction": "ingress"}
    made = rig.ok(
        "alice", "POST", f"{NET}/security-group-rules", json={"security_group_rule": rule}
    )
    return {
        "networks": network["id"],
        "subnets": subnet["id"],
        "ports": port["port"]["id"],
        "routers": router["router"]["id"],
        "floatingips": fip["floatingip"]["id"],
        "security-groups": group["security_group"]["id"],
        "security-group-rules": made["security_group_rule"]["id"],
    }


BODIES = {
    "networks": {"network": {"name": "x"}},
    "subnets": {"subnet": {"name": "x"}},
    "ports": {"port": {"name": "x"}},
    "routers": {"router": {"name": "x"}},
    "floatingips": {"floatingip": {"description": "x"}},
    "security-groups": {"security_group": {"name": "x"}},
}


def test_another_projects_resources_answer_as_unknown_ones_and_stay_as_they_were(rig: Rig) -> None:
    theirs = _alices_things(rig)
    rig.ok("bob", "GET", f"{NET}/security-groups")  # makes bob's default group, once
    before = _position(rig)
    for collection, ident in theirs.items():
        listed = rig.ok("bob", "GET", f"{NET}/{collection}")[collection.replace("-", "_")]
        assert ident not in {r["id"] for r in listed}
        methods = ["GET", "DELETE"] + (["PUT"] if collection in BODIES else [])
        for method in methods:
            body = BODIES.get(collection)
            seen = rig.call("bob", method, f"{NET}/{collection}/{ident}", json=body)
            unknown = rig.call("bob", method, f"{NET}/{collection}/{uuid4()}", json=body)
            assert (seen.status_code, unknown.status_code) == (404, 404), (collection, method)
            assert seen.json()["NeutronError"]["type"] == unknown.json()["NeutronError"]["type"]
    assert _position(rig) == before


def test_another_projects_ids_in_every_field_that_takes_one_are_refused(rig: Rig) -> None:
    theirs = _alices_things(rig)
    bobs_net, _ = bobs_network(rig)
    before = _position(rig)
    attempts = [
        ("POST", f"{NET}/ports", {"port": {"network_id": theirs["networks"]}}, 404),
        (
            "POST",
            f"{NET}/ports",
            {"port": {"network_id": bobs_net, "fixed_ips": [{"subnet_id": theirs["subnets"]}]}},
            404,
        ),
        (
            "POST",
            f"{NET}/ports",
            {"port": {"network_id": bobs_net, "security_groups": [theirs["security-groups"]]}},
            404,
        ),
        (
            "POST",
            f"{NET}/subnets",
            {"subnet": {"network_id": theirs["networks"], "cidr": "10.99.0.0/24", "ip_version": 4}},
            404,
        ),
        (
            "POST",
            f"{NET}/security-group-rules",
            {
                "security_group_rule": {
                    "security_group_id": theirs["security-groups"],
                    "direction": "ingress",
                }
            },
            404,
        ),
        (
            "POST",
            f"{NET}/security-group-rules",
            {
                "security_group_rule": {
                    "security_group_id": _bobs_group(rig),
                    "direction": "ingress",
                    "remote_group_id": theirs["security-groups"],
                }
            },
            404,
        ),
        (
            "POST",
            f"{NET}/floatingips",
            {
                "floatingip": {
                    "floating_network_id": rig.named("bob", "networks", "public")["id"],
                    "port_id": theirs["ports"],
                }
            },
            404,
        ),
        (
            "PUT",
            f"{NET}/routers/{_bobs_router(rig)}/add_router_interface",
            {"subnet_id": theirs["subnets"]},
            404,
        ),
        (
            "PUT",
            f"{NET}/routers/{_bobs_router(rig)}/add_router_interface",
            {"port_id": theirs["ports"]},
            404,
        ),
        (
            "POST",
            f"{NET}/floatingips",
            {"floatingip": {"floating_network_id": theirs["networks"]}},
            404,
        ),
        (
            "POST",
            f"{NET}/routers",
            {"router": {"external_gateway_info": {"network_id": theirs["networks"]}}},
            404,
        ),
        ("POST", f"{COMPUTE}/servers", boot_body(rig, [{"uuid": theirs["networks"]}]), 400),
        ("POST", f"{COMPUTE}/servers", boot_body(rig, [{"port": theirs["ports"]}]), 400),
    ]
    before = _position(rig)
    for method, path, body, status in attempts:
        answer = rig.call("bob", method, path, json=body)
        assert answer.status_code == status, (path, body, answer.text)
    assert _position(rig) == before


def _bobs_group(rig: Rig) -> str:
    body = {"security_group": {"name": "bg"}}
    return str(rig.ok("bob", "POST", f"{NET}/security-groups", json=body)["security_group"]["id"])


def _bobs_router(rig: Rig) -> str:
    return str(
        rig.ok("bob", "POST", f"{NET}/routers", json={"router": {"name": "br"}})["router"]["id"]
    )


def test_a_reader_reads_but_changes_nothing_and_tenants_set_no_admin_attributes(rig: Rig) -> None:
    rig.ok("rita", "GET", f"{NET}/networks")
    _error(rig.call("rita", "POST", f"{NET}/networks", json={"network": {"name": "r"}}), 403)
    for body in ({"shared": True}, {"router:external": True}, {"provider:network_type": "flat"}):
        answer = rig.call("alice", "POST", f"{NET}/networks", json={"network": body})
        _error(answer, 403, "PolicyNotAuthorized")
    network, _ = _alices_network(rig, "owners", "10.53.0.0/24")
    for body in ({"device_owner": "network:dhcp"}, {"device_owner": "compute:nova"},
                 {"binding:host_id": "compute-1"}):  # fmt: skip
        answer = rig.call(
            "alice", "POST", f"{NET}/ports", json={"port": {"network_id": network["id"], **body}}
        )
        _error(answer, 403)
    public = rig.named("alice", "networks", "public")["id"]
    chosen = {"floatingip": {"floating_network_id": public, "floating_ip_address": "198.51.100.99"}}
    _error(rig.call("alice", "POST", f"{NET}/floatingips", json=chosen), 403)


# Hostile input ------------------------------------------------------------------------


def test_hostile_input_is_refused_in_neutrons_shape_and_appends_nothing(rig: Rig) -> None:
    network, subnet = _alices_network(rig, "hostile", "10.54.0.0/24")
    net_id = network["id"]
    before = _position(rig)
    attempts = [
        (f"{NET}/networks", {"network": {"name": 42}}),
        (f"{NET}/networks", {"network": {"name": ["x"]}}),
        (f"{NET}/networks", {"network": {"name": "x" * 300}}),
        (f"{NET}/networks", {"network": {"name": "bad\u0000name"}}),
        (f"{NET}/networks", {"network": {"nonsense": True}}),
        (f"{NET}/networks", {"networks": []}),
        (f"{NET}/subnets", {"subnet": {"network_id": net_id, "cidr": "10.55.0.1/24"}}),
        (f"{NET}/subnets", {"subnet": {"network_id": net_id, "cidr": "999.0.0.0/24"}}),
        (
            f"{NET}/subnets",
            {"subnet": {"network_id": net_id, "cidr": "10.55.0.0/24", "ip_version": 6}},
        ),
        (f"{NET}/subnets", {"subnet": {"network_id": net_id, "cidr": "0.0.0.0/0"}}),
        (
            f"{NET}/subnets",
            {
                "subnet": {
                    "network_id": net_id,
                    "cidr": "10.56.0.0/24",
                    "allocation_pools": [{"start": "10.0.0.1", "end": "11.0.0.0"}],
                }
            },
        ),
        (
            f"{NET}/subnets",
            {
                "subnet": {
                    "network_id": net_id,
                    "cidr": "10.56.0.0/24",
                    "allocation_pools": [
                        {"start": f"10.56.0.{n}", "end": f"10.56.0.{n}"} for n in range(2, 200)
                    ],
                }
            },
        ),
        (
            f"{NET}/subnets",
            {"subnet": {"network_id": net_id, "cidr": "10.56.0.0/24", "gateway_ip": "10.99.0.1"}},
        ),
        (
            f"{NET}/subnets",
            {
                "subnet": {
                    "network_id": net_id,
                    "cidr": "10.56.0.0/24",
                    "dns_nameservers": ["8.8.8.8"] * 6,
                }
            },
        ),
        (
            f"{NET}/ports",
            {
                "port": {
                    "network_id": net_id,
                    "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "10.99.0.5"}],
                }
            },
        ),
        (
            f"{NET}/ports",
            {
                "port": {
                    "network_id": net_id,
                    "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "not-an-ip"}],
                }
            },
        ),
        (f"{NET}/ports", {"port": {"network_id": net_id, "mac_address": "01:00:5e:00:00:01"}}),
        (f"{NET}/ports", {"port": {"network_id": "../../etc/passwd"}}),
        (
            f"{NET}/security-group-rules",
            {"security_group_rule": {"security_group_id": "x", "direction": "sideways"}},
        ),
    ]
    for path, body in attempts:
        answer = rig.call("alice", "POST", path, json=body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
        error = answer.json()["NeutronError"]
        assert error["message"] and "Traceback" not in error["message"]
    garbled = rig.call(
        "alice", "POST", f"{NET}/networks", content=b"{not json",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    _error(garbled, 400)
    assert _position(rig) == before
