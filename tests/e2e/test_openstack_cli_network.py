"""The unmodified `openstack` client on the Networking API (issue 21): a
network of one's own with a subnet, a port and a router onto the seeded
external network; a server on the seeded `private` network with a floating
IP added and removed; a security group rule; quotas; and the refusals a
user meets (a network with ports, a network of another project)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import Stack, create_member
from e2e.test_openstack_cli import as_json, clouds_yaml_for, ok, openstack

pytestmark = pytest.mark.e2e


def _json(stack: Stack, *args: str) -> Any:
    return as_json(openstack(stack, *args, "-f", "json"))


def _addresses(stack: Stack, server: str) -> dict[str, Any]:
    shown = _json(stack, "server", "show", server)
    addresses = shown["addresses"]
    return json.loads(addresses) if isinstance(addresses, str) else dict(addresses)


def test_a_network_of_ones_own_with_a_router_to_the_outside(stack: Stack) -> None:
    network = _json(stack, "network", "create", "cli-net")
    assert network["name"] == "cli-net" and network["status"] == "ACTIVE"
    subnet = _json(
        stack, "subnet", "create", "--network", "cli-net", "--subnet-range", "192.168.50.0/24",
        "--dns-nameserver", "192.0.2.53", "cli-sub",
    )  # fmt: skip
    assert subnet["cidr"] == "192.168.50.0/24" and subnet["gateway_ip"] == "192.168.50.1"
    port = _json(stack, "port", "create", "--network", "cli-net", "cli-port")
    assert port["status"] == "DOWN" and port["mac_address"].startswith("fa:16:3e:")
    (fixed,) = port["fixed_ips"] if isinstance(port["fixed_ips"], list) else [port["fixed_ips"]]
    assert "192.168.50." in json.dumps(fixed)

    router = _json(stack, "router", "create", "cli-router")
    ok(openstack(stack, "router", "set", "--external-gateway", "public", "cli-router"))
    ok(openstack(stack, "router", "add", "subnet", "cli-router", "cli-sub"))
    shown = _json(stack, "router", "show", "cli-router")
    assert "198.51.100." in json.dumps(shown["external_gateway_info"])
    legs = _json(stack, "port", "list", "--router", router["id"])
    assert [leg["Fixed IP Addresses"] for leg in legs] and "192.168.50.1" in json.dumps(legs)

    refused = openstack(stack, "network", "delete", "cli-net")
    assert refused.returncode != 0
    assert "NetworkInUse" in refused.stderr or "in use" in refused.stderr.lower()

    ok(openstack(stack, "port", "delete", "cli-port"))
    ok(openstack(stack, "router", "remove", "subnet", "cli-router", "cli-sub"))
    ok(openstack(stack, "router", "unset", "--external-gateway", "cli-router"))
    ok(openstack(stack, "router", "delete", "cli-router"))
    ok(openstack(stack, "network", "delete", "cli-net"))
    assert "cli-net" not in ok(openstack(stack, "network", "list"))
    assert "cli-sub" not in ok(openstack(stack, "subnet", "list"))


def test_a_server_on_private_takes_a_floating_ip_and_lets_it_go(stack: Stack) -> None:
    server = _json(
        stack, "server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2",
        "--network", "private", "--wait", "cli-vm",
    )  # fmt: skip
    addresses = _addresses(stack, "cli-vm")
    (fixed,) = addresses["private"]
    assert fixed.startswith("10.0.0.") if isinstance(fixed, str) else fixed["addr"]

    floating = _json(stack, "floating", "ip", "create", "public")
    address = floating["floating_ip_address"]
    assert address.startswith("198.51.100.")
    ok(openstack(stack, "server", "add", "floating", "ip", "cli-vm", address))
    assert address in json.dumps(_addresses(stack, "cli-vm"))
    shown = _json(stack, "floating", "ip", "show", address)
    assert shown["port_id"] and shown["fixed_ip_address"].startswith("10.0.0.")

    ok(openstack(stack, "security", "group", "rule", "create", "--proto", "icmp", "default"))
    rules = _json(stack, "security", "group", "rule", "list", "default")
    assert any(r["IP Protocol"] == "icmp" for r in rules)

    ok(openstack(stack, "server", "remove", "floating", "ip", "cli-vm", address))
    assert address not in json.dumps(_addresses(stack, "cli-vm"))
    ok(openstack(stack, "floating", "ip", "delete", address))
    assert address not in ok(openstack(stack, "floating", "ip", "list"))

    (port,) = _json(stack, "port", "list", "--server", server["id"])
    ok(openstack(stack, "server", "delete", "--wait", "cli-vm"))
    gone = openstack(stack, "port", "show", port["ID"])  # made for the server: went with it
    assert gone.returncode != 0 and "No Port found" in gone.stderr


def test_quota_set_floating_ips_is_enforced(stack: Stack, tmp_path: Path) -> None:
    member = create_member(stack, "cliq")
    ok(openstack(stack, "quota", "set", "--floating-ips", "1", member.project))
    quota = _json(stack, "quota", "show", member.project)
    limits = {q["Resource"]: q["Limit"] for q in quota} if isinstance(quota, list) else quota
    # The client names Networking's quotas by openstacksdk's attributes.
    assert limits["floating_ips"] == 1
    theirs = Stack(**{**vars(stack), "state_dir": tmp_path})
    clouds_yaml_for(stack, tmp_path, member.user, member.password, member.project)
    ok(openstack(theirs, "floating", "ip", "create", "public"))
    over = openstack(theirs, "floating", "ip", "create", "public")
    assert over.returncode != 0 and "Quota exceeded" in over.stderr
    # Another project's network is as good as absent.
    refused = openstack(theirs, "network", "show", "cli-none")
    assert refused.returncode != 0


def test_a_port_is_added_to_a_running_server_and_removed(stack: Stack) -> None:
    _json(
        stack, "server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2",
        "--nic", "none", "--wait", "cli-ports-vm",
    )  # fmt: skip
    port = _json(stack, "port", "create", "--network", "private", "cli-extra")
    ok(openstack(stack, "server", "add", "port", "cli-ports-vm", "cli-extra"))
    shown = _json(stack, "port", "show", "cli-extra")
    host = _json(stack, "server", "show", "cli-ports-vm")["OS-EXT-SRV-ATTR:host"]
    # Bound to the server's host at once: its network worker plugs it.
    assert shown["device_owner"].startswith("compute:") and shown["binding_host_id"] == host
    assert port["fixed_ips"][0]["ip_address"] in json.dumps(_addresses(stack, "cli-ports-vm"))
    interfaces = _json(stack, "server", "show", "cli-ports-vm")
    assert "private" in json.dumps(interfaces["addresses"])
    ok(openstack(stack, "server", "remove", "port", "cli-ports-vm", "cli-extra"))
    kept = _json(stack, "port", "show", "cli-extra")  # the user's port: detached, kept
    assert kept["device_id"] == "" and kept["device_owner"] == ""
    assert _addresses(stack, "cli-ports-vm") == {}
    ok(openstack(stack, "server", "delete", "--wait", "cli-ports-vm"))
    ok(openstack(stack, "port", "delete", "cli-extra"))
