"""The Networking v2.0 API over HTTP, as clients see it (issue 21): Neutron's
shapes and list parameters, admin-only attributes, tenant isolation (another
project's resource answers exactly as an unknown one), hostile input
refused in Neutron's error shape with nothing appended, quotas, and the
metadata service's side."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from integration.helpers import rows
from integration.network_rig import COMPUTE, NET, B, Rig, bobs_network, boot_body, running_rig

from api.metadata import signature
from ops.postgres import PrivateCluster


@pytest.fixture(scope="module")
def rig(
    pg_cluster: PrivateCluster, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rig]:
    with running_rig(pg_cluster, template_database, str(tmp_path_factory.mktemp("net"))) as rig:
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


# Discovery -------------------------------------------------------------------------


def test_the_version_document_and_extensions_say_what_is_served(rig: Rig) -> None:
    versions = rig.call(None, "GET", "/networking/").json()["versions"]
    assert [(v["id"], v["status"]) for v in versions] == [("v2.0", "CURRENT")]
    assert versions[0]["links"][0]["href"].endswith("/networking/v2.0/")
    resources = {r["name"] for r in rig.call(None, "GET", f"{NET}/").json()["resources"]}
    assert {"network", "subnet", "port"} <= resources
    aliases = {e["alias"] for e in rig.ok("alice", "GET", f"{NET}/extensions")["extensions"]}
    assert {"router", "security-group", "external-net", "quotas", "subnet_allocation"} <= aliases
    assert not aliases & {"dvr", "l3-ha", "allowed-address-pairs", "tag", "rbac-policies"}
    _error(rig.call("alice", "GET", f"{NET}/extensions/dvr"), 404)


def test_the_catalog_names_the_network_endpoint(rig: Rig) -> None:
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": "alice", "password": "pw", "domain": {"id": "default"}}}},
        "scope": {"project": {"name": "proj-a", "domain": {"id": "default"}}}}  # fmt: skip
    token = rig.call(None, "POST", "/identity/v3/auth/tokens", json={"auth": auth}).json()
    (network,) = [s for s in token["token"]["catalog"] if s["type"] == "network"]
    assert network["endpoints"][0]["url"].endswith("/networking")


# Booting onto "auto" ----------------------------------------------------------------


def test_auto_boots_onto_the_shared_private_then_onto_the_projects_own_network(rig: Rig) -> None:
    """``networks: auto`` is the project's own (oldest) network, else the
    shared ``private``: read for each batch of boots, so the network a
    project has just made is the one its next boot gets."""

    def booted_onto(user: str) -> str:
        body = {"server": {**boot_body(rig, [])["server"], "networks": "auto"}}
        server = rig.ok(user, "POST", f"{COMPUTE}/servers", json=body)["server"]
        (port,) = rig.ok(user, "GET", f"{NET}/ports?device_id={server['id']}")["ports"]
        return str(port["network_id"])

    networks = rig.ok("bob", "GET", f"{NET}/networks")["networks"]
    assert not [n for n in networks if n["project_id"] == rig.projects[B]], "bob has none yet"
    assert booted_onto("bob") == rig.named("bob", "networks", "private")["id"]
    own, _ = bobs_network(rig)
    assert booted_onto("bob") == own


# Shapes and lists ---------------------------------------------------------------


def test_a_network_shows_neutrons_attributes_and_provider_ones_only_to_admins(rig: Rig) -> None:
    network, subnet = _alices_network(rig, "shapes")
    expected = ["id", "name", "status", "subnets", "shared", "router:external", "mtu"]
    expected += ["admin_state_up", "tenant_id", "project_id", "created_at", "revision_number"]
    for key in expected:
        assert key in network, key
    assert network["subnets"] == [] and network["status"] == "ACTIVE"
    assert not any(k.startswith("provider:") for k in network)
    shown = rig.ok("alice", "GET", f"{NET}/networks/{network['id']}")["network"]
    assert shown["subnets"] == [subnet["id"]]
    as_admin = rig.ok("admin", "GET", f"{NET}/networks/{network['id']}")["network"]
    assert as_admin["provider:network_type"] == "vxlan" and as_admin["provider:segmentation_id"]
    fields = rig.ok("alice", "GET", f"{NET}/networks/{network['id']}?fields=id&fields=name")
    assert fields == {"network": {"id": network["id"], "name": "shapes"}}


def test_lists_filter_on_any_attribute_repeated_sort_and_page_with_links(rig: Rig) -> None:
    names = [f"page-{n}" for n in range(5)]
    for name in names:
        rig.ok("alice", "POST", f"{NET}/networks", json={"network": {"name": name}})
    either = rig.ok("alice", "GET", f"{NET}/networks?name=page-1&name=page-3")["networks"]
    assert sorted(n["name"] for n in either) == ["page-1", "page-3"]
    external = rig.ok("alice", "GET", f"{NET}/networks?router:external=true")["networks"]
    assert [n["name"] for n in external] == ["public"]
    query = "sort_key=name&sort_dir=desc&limit=2&name=" + "&name=".join(names)
    first = rig.ok("alice", "GET", f"{NET}/networks?{query}")
    assert [n["name"] for n in first["networks"]] == ["page-4", "page-3"]
    (next_link,) = [link for link in first["networks_links"] if link["rel"] == "next"]
    second = rig.ok("alice", "GET", next_link["href"].split("http://api", 1)[1])
    assert [n["name"] for n in second["networks"]] == ["page-2", "page-1"]
    assert {link["rel"] for link in second["networks_links"]} == {"next", "previous"}
    _error(rig.call("alice", "GET", f"{NET}/networks?sort_key=provider:network_type"), 400)
    _error(rig.call("alice", "GET", f"{NET}/networks?limit=-1"), 400)


def test_ports_filter_by_fixed_ip_and_device(rig: Rig) -> None:
    network, _ = _alices_network(rig, "ports", "10.51.0.0/24")
    body = {"port": {"network_id": network["id"], "device_id": "mine"}}
    port = rig.ok("alice", "POST", f"{NET}/ports", json=body)["port"]
    address = port["fixed_ips"][0]["ip_address"]
    by_ip = rig.ok("alice", "GET", f"{NET}/ports?fixed_ips=ip_address={address}")["ports"]
    assert [p["id"] for p in by_ip] == [port["id"]]
    by_device = rig.ok("alice", "GET", f"{NET}/ports?device_id=mine")["ports"]
    assert [p["id"] for p in by_device] == [port["id"]]
    assert "binding:host_id" not in port
    assert "binding:host_id" in rig.ok("admin", "GET", f"{NET}/ports/{port['id']}")["port"]


# Quotas ------------------------------------------------------------------------------


def test_network_quotas_show_set_and_refuse_a_limit_below_use(rig: Rig) -> None:
    project = rig.projects["proj-b"]
    defaults = rig.ok("bob", "GET", f"{NET}/quotas/{project}/default")["quota"]
    assert defaults == {
        "network": 100, "subnet": 100, "port": 500, "router": 10,
        "floatingip": 50, "security_group": 10, "security_group_rule": 100,
    }  # fmt: skip
    _error(rig.call("bob", "PUT", f"{NET}/quotas/{project}", json={"quota": {"port": 5}}), 403)
    _error(rig.call("bob", "GET", f"{NET}/quotas/{rig.projects['proj-a']}"), 403)
    bobs_network(rig)
    used = rig.ok("bob", "GET", f"{NET}/quotas/{project}/details")["quota"]["network"]["used"]
    assert used >= 1
    refused = rig.call(
        "admin",
        "PUT",
        f"{NET}/quotas/{project}",
        json={"quota": {"network": 0, "check_limit": True}},
    )
    _error(refused, 400)
    rig.ok("admin", "PUT", f"{NET}/quotas/{project}", json={"quota": {"router": 0}})
    over = rig.call("bob", "POST", f"{NET}/routers", json={"router": {"name": "no"}})
    _error(over, 409, "OverQuota")
    listed = rig.ok("admin", "GET", f"{NET}/quotas")["quotas"]
    assert any(q["project_id"] == project and q["router"] == 0 for q in listed)


# The metadata service -------------------------------------------------------------------


def _metadata(rig: Rig, network: str, address: str, path: str, sign: bool = True) -> Any:
    secret = rig.state.network.metadata_secret
    headers = {"X-Cloudledger-Network-Id": network, "X-Forwarded-For": address}
    if sign:
        headers["X-Cloudledger-Metadata-Signature"] = signature(secret, network, address)
    return rig.call(None, "GET", f"/metadata/{path}", headers=headers)


def test_the_metadata_service_answers_the_guest_at_an_address_and_no_one_else(rig: Rig) -> None:
    keypair = {"keypair": {"name": "k1"}}
    public_key = rig.ok("alice", "POST", f"{COMPUTE}/os-keypairs", json=keypair)["keypair"][
        "public_key"
    ]
    private = rig.named("alice", "networks", "private")["id"]
    body = boot_body(rig, [{"uuid": private}])
    body["server"].update(key_name="k1", name="Web Server_1")
    server = rig.ok("alice", "POST", f"{COMPUTE}/servers", json=body)["server"]
    (port,) = rig.ok("alice", "GET", f"{NET}/ports?device_id={server['id']}")["ports"]
    address = port["fixed_ips"][0]["ip_address"]

    meta = _metadata(rig, private, address, "openstack/latest/meta_data.json")
    assert meta.status_code == 200, meta.text
    data = meta.json()
    assert (data["uuid"], data["name"], data["hostname"]) == (
        server["id"],
        "Web Server_1",
        "web-server-1",
    )
    assert data["public_keys"] == {"k1": public_key}
    ec2 = _metadata(rig, private, address, "latest/meta-data/public-keys/0/openssh-key")
    assert ec2.text == public_key
    assert _metadata(rig, private, address, "latest/meta-data/local-ipv4").text == address
    assert "hostname" in _metadata(rig, private, address, "latest/meta-data/").text.split("\n")

    assert (
        _metadata(rig, private, address, "openstack/latest/meta_data.json", sign=False).status_code
        == 403
    )
    forged = _metadata(rig, private, "10.0.0.250", "openstack/latest/meta_data.json")
    assert forged.status_code == 404  # signed, but no guest holds that address
    wrong = {"X-Cloudledger-Network-Id": private, "X-Forwarded-For": address,
             "X-Cloudledger-Metadata-Signature": "0" * 64}  # fmt: skip
    assert rig.call(None, "GET", "/metadata/openstack", headers=wrong).status_code == 403


def test_a_port_naming_another_projects_server_gets_no_metadata(rig: Rig) -> None:
    private = rig.named("alice", "networks", "private")["id"]
    server = rig.ok("alice", "POST", f"{COMPUTE}/servers", json=boot_body(rig, [{"uuid": private}]))
    # bob's own port on bob's network, claiming alice's server as its device
    network, _ = bobs_network(rig)
    body = {"port": {"network_id": network, "device_id": server["server"]["id"]}}
    port = rig.ok("bob", "POST", f"{NET}/ports", json=body)["port"]
    address = port["fixed_ips"][0]["ip_address"]
    assert _metadata(rig, network, address, "openstack/latest/meta_data.json").status_code == 404
    shown = rig.ok("alice", "GET", f"{COMPUTE}/servers/{server['server']['id']}")["server"]
    assert address not in str(shown["addresses"])


def test_subnets_are_carved_from_a_subnet_pool_and_give_their_prefix_back(rig: Rig) -> None:
    body = {"subnetpool": {"name": "pool", "prefixes": ["10.70.0.0/16"], "default_prefixlen": 24}}
    pool = rig.ok("alice", "POST", f"{NET}/subnetpools", json=body)["subnetpool"]
    assert (pool["min_prefixlen"], pool["default_prefixlen"], pool["max_prefixlen"]) == (8, 24, 32)
    network = rig.ok("alice", "POST", f"{NET}/networks", json={"network": {"name": "carved"}})
    carve = {"network_id": network["network"]["id"], "subnetpool_id": pool["id"], "ip_version": 4}
    first = rig.ok("alice", "POST", f"{NET}/subnets", json={"subnet": carve})["subnet"]
    second = rig.ok("alice", "POST", f"{NET}/subnets", json={"subnet": {**carve, "prefixlen": 28}})
    assert (first["cidr"], second["subnet"]["cidr"]) == ("10.70.0.0/24", "10.70.1.0/28")
    assert first["subnetpool_id"] == pool["id"]
    taken = rig.call(
        "alice", "POST", f"{NET}/subnets", json={"subnet": {**carve, "cidr": "10.70.0.0/25"}}
    )
    _error(taken, 409, "SubnetAllocationError")
    outside = rig.call(
        "alice", "POST", f"{NET}/subnets", json={"subnet": {**carve, "cidr": "10.99.0.0/24"}}
    )
    _error(outside, 400)
    _error(rig.call("alice", "DELETE", f"{NET}/subnetpools/{pool['id']}"), 409, "SubnetPoolInUse")
    _error(rig.call("bob", "GET", f"{NET}/subnetpools/{pool['id']}"), 404)
    rig.ok("alice", "DELETE", f"{NET}/subnets/{first['id']}")
    again = rig.ok("alice", "POST", f"{NET}/subnets", json={"subnet": carve})["subnet"]
    assert again["cidr"] == "10.70.0.0/24"  # given back, handed out again
    renamed = rig.ok(
        "alice", "PUT", f"{NET}/subnetpools/{pool['id']}", json={"subnetpool": {"name": "p2"}}
    )
    assert renamed["subnetpool"]["name"] == "p2"
    rig.ok("alice", "DELETE", f"{NET}/networks/{network['network']['id']}")
    rig.ok("alice", "DELETE", f"{NET}/subnetpools/{pool['id']}")
