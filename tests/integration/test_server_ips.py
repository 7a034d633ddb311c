"""Nova's server IPs API over HTTP (``GET /servers/{id}/ips[/{label}]``),
which tempest's volume attachment tests read before they attach: the
server's fixed addresses by network name, as version and address only;
another project's server answers as an unknown one, and so does a
network the server is not on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from integration.network_rig import COMPUTE, NET, Rig, boot_body, running_rig

from ops.postgres import PrivateCluster


@pytest.fixture(scope="module")
def rig(
    pg_cluster: PrivateCluster, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rig]:
    with running_rig(pg_cluster, template_database, str(tmp_path_factory.mktemp("ips"))) as rig:
        yield rig


def test_a_servers_ips_by_network_and_for_one_network(rig: Rig) -> None:
    private = rig.named("alice", "networks", "private")["id"]
    body = boot_body(rig, [{"uuid": private}])
    server = rig.ok("alice", "POST", f"{COMPUTE}/servers", json=body)["server"]
    (port,) = rig.ok("alice", "GET", f"{NET}/ports?device_id={server['id']}")["ports"]
    address = port["fixed_ips"][0]["ip_address"]

    ips = rig.ok("alice", "GET", f"{COMPUTE}/servers/{server['id']}/ips")
    assert ips == {"addresses": {"private": [{"version": 4, "addr": address}]}}
    one = rig.ok("alice", "GET", f"{COMPUTE}/servers/{server['id']}/ips/private")
    assert one == {"private": [{"version": 4, "addr": address}]}

    elsewhere = rig.call("alice", "GET", f"{COMPUTE}/servers/{server['id']}/ips/public")
    assert elsewhere.status_code == 404, elsewhere.text
    assert elsewhere.json()["itemNotFound"]["code"] == 404
    unknown_id = "00000000-0000-0000-0000-000000000000"
    for path in ("ips", "ips/private"):
        theirs = rig.call("bob", "GET", f"{COMPUTE}/servers/{server['id']}/{path}")
        unknown = rig.call("bob", "GET", f"{COMPUTE}/servers/{unknown_id}/{path}")
        assert (theirs.status_code, unknown.status_code) == (404, 404)
        said = theirs.json()["itemNotFound"]["message"]
        assert said.replace(server["id"], unknown_id) == unknown.json()["itemNotFound"]["message"]


def test_a_server_on_no_network_has_no_ips(rig: Rig) -> None:
    body = boot_body(rig, [])
    body["server"]["networks"] = "none"
    server = rig.ok("alice", "POST", f"{COMPUTE}/servers", json=body)["server"]
    assert rig.ok("alice", "GET", f"{COMPUTE}/servers/{server['id']}/ips") == {"addresses": {}}
