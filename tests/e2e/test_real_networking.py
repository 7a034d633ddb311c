"""Issue 21's acceptance on real infrastructure: `cloudledger run` with the
real network driver (every host a namespace of this machine: Linux bridges
joined by VXLAN, dnsmasq, nftables) and real QEMU guests (TCG), driven
through the API and the unmodified CLI.

- A guest on `private` shows on its console (through the API) the address
  it got by DHCP, the one in its `addresses`, and its host name and public
  key from the metadata service (`--key-name`); booted into a group that
  lets SSH in (`--security-group`), it answers SSH with that key, as the
  image's user, and reports the server's name as its host name and the
  flavor's vCPUs (what tempest's guest-login tests check).
- Two guests of one network on two hosts reach each other over VXLAN; a
  guest of another tenant's network with the same CIDR reaches neither;
  deleting them removes their taps, leases and filters, and the bridge and
  the DHCP server go with their last port.
- From the external namespace a floating IP reaches its guest only once a
  rule lets ICMP in; the guest reaches the outside through SNAT; the NAT
  goes with the disassociation.
- A compute host's process (its spawns plug their ports) SIGKILLed in the
  middle of a plug converges once the supervisor has restarted it: the
  port ACTIVE, nothing doubled or left.

Slow (each guest boots a kernel under TCG): CI runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from e2e.helpers import Stack, children, create_member, running_stack, wait_for
from e2e.test_openstack_cli import as_json, clouds_yaml_for, ok, openstack
from ops.guest_images import CMDLINE
from ops.guest_ssh import SSH_READY_LINE, SSH_USER
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis
from ops.seed import GUEST_IMAGE_NAME
from workers.drivers.netns import list_namespaces
from workers.drivers.netns_topology import stack_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BOOT_TIMEOUT = 240.0  # TCG on a loaded 2-core machine
KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = KEY.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
EXTERNAL_GATEWAY = "198.51.100.1"


@pytest.fixture(scope="module")
def net_stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/8"
    real = {
        "CLOUDLEDGER_HYPERVISOR": "qemu",
        "CLOUDLEDGER_NETWORK_DRIVER": "linux",
        "CLOUDLEDGER_SHUTDOWN_TIMEOUT": "1",
    }
    with running_stack(pg_cluster, template_database, redis_url, "db", real) as stack:
        prefix = stack_prefix(str(stack.state_dir.resolve()))
        yield stack
    assert list_namespaces(prefix + "-") == []  # the supervisor took its namespaces away


def _prefix(stack: Stack) -> str:
    return stack_prefix(str(stack.state_dir.resolve()))


def _in(namespace: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _pings(stack: Stack, address: str) -> bool:
    """Whether ``address`` answers from the external namespace (the outside world)."""
    done = _in(f"{_prefix(stack)}-external", "busybox", "ping", "-c", "2", "-W", "1", address)
    return done.returncode == 0


def _json(stack: Stack, *args: str) -> Any:
    return as_json(openstack(stack, *args, "-f", "json"))


def _console(stack: Stack, server: str, *texts: str) -> str:
    def shown() -> str | None:
        seen = ok(openstack(stack, "console", "log", "show", server))
        return seen if all(t in seen for t in texts) else None

    found: str = wait_for(shown, BOOT_TIMEOUT, f"{server}'s console to show {texts}", interval=2)
    return found


def _address(stack: Stack, server: str, network: str) -> str:
    addresses = _json(stack, "server", "show", server)["addresses"]
    found = json.loads(addresses) if isinstance(addresses, str) else addresses
    (address,) = found[network]
    return str(address if isinstance(address, str) else address["addr"])


def _pinging_image(stack: Stack, name: str, targets: list[str]) -> str:
    """The seeded guest, booting with ``cloudledger.ping=...`` on its command
    line (ops/guest_network.py): it prints what it reaches."""
    seeded = _json(stack, "image", "show", GUEST_IMAGE_NAME)
    properties = seeded["properties"]
    root = stack.state_dir / "images" / seeded["id"]
    ok(
        openstack(
            stack, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
            "--public", "--file", str(root),
            "--property", f"kernel_id={properties['kernel_id']}",
            "--property", f"ramdisk_id={properties['ramdisk_id']}",
            "--property", f"os_command_line={CMDLINE} cloudledger.ping={','.join(targets)}",
            name,
        )
    )  # fmt: skip
    return name


def _boot(stack: Stack, name: str, image: str, nic: str, host: str, *extra: str) -> None:
    ok(
        openstack(
            stack, "server", "create", "--flavor", "m1.tiny", "--image", image, "--nic", nic,
            "--availability-zone", f"nova:{host}", *extra, name,
        )
    )  # fmt: skip


def _links(namespace: str) -> str:
    return _in(namespace, "ip", "-br", "link").stdout


def test_a_guest_on_private_gets_its_address_by_dhcp_and_its_name_and_key_from_metadata(
    net_stack: Stack, tmp_path: Path
) -> None:
    stack = net_stack
    key = tmp_path / "key.pub"
    key.write_text(PUBLIC_KEY + "\n")
    ok(openstack(stack, "keypair", "create", "--public-key", str(key), "net-key"))
    _json(stack, "security", "group", "create", "ssh-in")
    ok(openstack(stack, "security", "group", "rule", "create", "--proto", "tcp",
                 "--dst-port", "22", "ssh-in"))  # fmt: skip
    began = time.monotonic()
    server = _json(
        stack, "server", "create", "--flavor", "m1.tiny", "--image", GUEST_IMAGE_NAME,
        "--network", "private", "--key-name", "net-key", "--security-group", "default",
        "--security-group", "ssh-in", "--wait", "G-DHCP",
    )  # fmt: skip
    active = time.monotonic()
    address = _address(stack, "G-DHCP", "private")
    console = _console(stack, "G-DHCP", f"eth0 address {address}/24", SSH_READY_LINE)
    addressed = time.monotonic()
    assert "cloudledger-guest: hostname g-dhcp" in console  # Nova's host name: lower case
    assert f"cloudledger-guest: public key {PUBLIC_KEY}" in console
    (port,) = _json(stack, "port", "list", "--server", server["id"])
    assert port["Status"] == "ACTIVE"
    _report_times(stack, server["id"], console, active - began, addressed - began)

    logged_in = _ssh(stack, tmp_path, address, "hostname; grep -c ^processor /proc/cpuinfo")
    vcpus = _json(stack, "flavor", "show", "m1.tiny")["vcpus"]
    assert logged_in.stdout.split() == ["g-dhcp", str(vcpus)], logged_in
    other = Ed25519PrivateKey.generate()
    refused = _ssh(stack, tmp_path, address, "hostname", other)
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
    ok(openstack(stack, "server", "delete", "--wait", "G-DHCP"))


def _ssh(
    stack: Stack, folder: Path, address: str, command: str, key: Ed25519PrivateKey = KEY
) -> subprocess.CompletedProcess[str]:
    """``command`` run over SSH on the guest at ``address`` of `private`,
    from its DHCP server's namespace (on the guest's own network), with ``key``."""
    private = folder / "id_ed25519"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    private.chmod(0o600)
    dhcp = [n for n in list_namespaces(f"{_prefix(stack)}-dhcp") if _id(stack, "private") in n]
    return _in(
        dhcp[0], "ssh", "-i", str(private), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        f"{SSH_USER}@{address}", command,
    )  # fmt: skip


def _report_times(stack: Stack, server: str, console: str, active: float, addressed: float) -> None:
    """The time from the boot request to the guest's address, and the control
    plane's part of it: the ledger's Requested -> Spawned less the
    hypervisor's own define and start (printed on the console)."""
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM launched_at - created_at) FROM servers WHERE id = %s",
            (server,),
        ).fetchone()
    assert row is not None
    ledger = float(row[0])
    started = console.split("the hypervisor defined and started", 1)[1]
    hypervisor = float(started.split(" in ", 1)[1].split(" s", 1)[0])
    print(
        f"\nboot request -> ACTIVE (client) {active:.2f} s; -> address on the console "
        f"{addressed:.2f} s (console polled every 2 s); ledger Requested -> Spawned "
        f"{ledger:.2f} s, of which the hypervisor's define+start {hypervisor:.2f} s: "
        f"control plane {ledger - hypervisor:.2f} s, the guest's own boot the rest"
    )


def test_guests_of_one_network_on_two_hosts_reach_each_other_and_no_other_tenant_s(
    net_stack: Stack, tmp_path: Path
) -> None:
    stack = net_stack
    member = create_member(stack, "netb")
    theirs = Stack(**{**vars(stack), "state_dir": tmp_path})
    clouds_yaml_for(stack, tmp_path, member.user, member.password, member.project)
    for who, name in ((stack, "net-a"), (theirs, "net-b")):
        network = _json(who, "network", "create", name)
        ok(openstack(who, "subnet", "create", "--network", network["id"], "--subnet-range",
                     "10.10.0.0/24", f"{name}-subnet"))  # fmt: skip
    g1, g2, g3 = "10.10.0.11", "10.10.0.12", "10.10.0.13"
    net_a, net_b = _id(stack, "net-a"), _id(stack, "net-b")
    _boot(stack, "g1", _pinging_image(stack, "ping-g2", [g2]), _nic(net_a, g1), "compute-1")
    _boot(stack, "g2", _pinging_image(stack, "ping-g1", [g1]), _nic(net_a, g2), "compute-2")
    _boot(stack, "g3", _pinging_image(stack, "ping-both", [g1, g2]), _nic(net_b, g3), "compute-1")

    _console(stack, "g1", f"eth0 address {g1}/24", f"ping {g2} ok")
    _console(stack, "g2", f"eth0 address {g2}/24", f"ping {g1} ok")
    _console(stack, "g3", f"eth0 address {g3}/24", f"ping {g1} fails", f"ping {g2} fails")
    time.sleep(4)  # g1 and g2 answer each other meanwhile; still nothing for g3
    third = ok(openstack(stack, "console", "log", "show", "g3"))
    assert f"ping {g1} ok" not in third and f"ping {g2} ok" not in third

    prefix = _prefix(stack)
    h1 = f"{prefix}-h-compute-1"
    assert _links(h1).count("tap") == 2 and _links(h1).count("brq") == 2
    for name in ("g1", "g2", "g3"):
        ok(openstack(stack, "server", "delete", "--wait", name))
    for host in (h1, f"{prefix}-h-compute-2"):
        links = _links(host)
        assert not any(word in links for word in ("tap", "brq", "vxlan-")), links
        assert "jump" not in _in(host, "nft", "list", "ruleset").stdout
    assert list_namespaces(f"{prefix}-dhcp") == [] or _only_private_dhcp(stack, prefix)


def _nic(network: str, address: str) -> str:
    return f"net-id={network},v4-fixed-ip={address}"


def _only_private_dhcp(stack: Stack, prefix: str) -> bool:
    """The DHCP servers left are those of networks with ports still on them."""
    private = _id(stack, "private")
    return all(private in n for n in list_namespaces(f"{prefix}-dhcp"))


def _id(stack: Stack, network: str) -> str:
    return str(_json(stack, "network", "show", network)["id"])


def test_a_floating_ip_reaches_its_guest_once_a_rule_allows_it_and_not_after_it_goes(
    net_stack: Stack,
) -> None:
    stack = net_stack
    image = _pinging_image(stack, "ping-outside", [EXTERNAL_GATEWAY])
    ok(openstack(stack, "server", "create", "--flavor", "m1.tiny", "--image", image,
                 "--network", "private", "--wait", "g-fip"))  # fmt: skip
    _console(stack, "g-fip", f"ping {EXTERNAL_GATEWAY} ok")  # out through router1's SNAT
    floating = _json(stack, "floating", "ip", "create", "public")["floating_ip_address"]
    ok(openstack(stack, "server", "add", "floating", "ip", "g-fip", floating))
    wait_for(
        lambda: _json(stack, "floating", "ip", "show", floating)["status"] == "ACTIVE",
        30, "the floating IP's NAT", interval=0.5,
    )  # fmt: skip
    assert not _pings(stack, floating)  # the default group lets no one from outside in

    rule = _json(stack, "security", "group", "rule", "create", "--proto", "icmp", "default")
    wait_for(lambda: _pings(stack, floating), 30, "ICMP let in on the running port", interval=0.5)

    ok(openstack(stack, "server", "remove", "floating", "ip", "g-fip", floating))
    wait_for(lambda: not _pings(stack, floating), 30, "the NAT to go", interval=0.5)
    ok(openstack(stack, "security", "group", "rule", "delete", rule["id"]))
    ok(openstack(stack, "server", "delete", "--wait", "g-fip"))
    ok(openstack(stack, "floating", "ip", "delete", floating))


def _host_process_pid(stack: Stack, host: str) -> int:
    """The host's one worker process: it serves its compute and network queues."""
    (pid,) = children(stack.process.pid, f"worker compute --host {host}".encode())
    return pid


def _plugged(stack: Stack, port_id: str) -> bool:
    """Whether the ledger holds the port's plug (the ledger, not a read model):
    a boot's port is bound and plugged by its spawn in one event."""
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM cloudledger_events WHERE originator_id = %s"
            " AND (topic LIKE %s OR topic LIKE %s)",
            (port_id, "%Port.Plugged", "%Port.BoundAndPlugged"),
        ).fetchone()
    return bool(row and row[0])


def test_a_compute_host_process_killed_in_the_middle_of_a_plug_converges_after_its_restart(
    net_stack: Stack,
) -> None:
    stack = net_stack
    h2 = f"{_prefix(stack)}-h-compute-2"
    worker = _host_process_pid(stack, "compute-2")
    os.kill(worker, signal.SIGSTOP)  # the spawn, which plugs the port, waits in its queue
    stopped = True
    try:
        server = _json(
            stack, "server", "create", "--flavor", "m1.tiny", "--image", "tiny-qcow2",
            "--network", "private", "--availability-zone", "nova:compute-2", "killed-mid-plug",
        )  # fmt: skip
        (port,) = wait_for(
            lambda: _json(stack, "port", "list", "--server", server["id"], "--long"),
            30, "the server's port", interval=0.5,
        )  # fmt: skip
        tap = "tap" + port["ID"].replace("-", "")[:12]
        # Caught with its tap made and the port not yet recorded ACTIVE: the
        # ledger takes no write while the process plugs (timing alone missed
        # the window on a busy machine), and the write it was waiting to make
        # dies with it (its connection had sent the commit already).
        with psycopg.connect(stack.database_url) as ledger:
            ledger.execute("LOCK TABLE cloudledger_events IN SHARE MODE")
            os.kill(worker, signal.SIGCONT)
            stopped = False
            wait_for(lambda: tap in _links(h2), 30, "the host to make the tap", interval=0.05)
            os.kill(worker, signal.SIGKILL)
            for _ in range(3):  # a write still in its socket may reach the lock late
                time.sleep(0.2)
                ledger.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks"
                    " WHERE relation = 'cloudledger_events'::regclass AND NOT granted"
                )
            ledger.rollback()
    finally:
        if stopped:
            os.kill(worker, signal.SIGCONT)
    assert not _plugged(stack, port["ID"])  # caught in the middle: tap made, nothing recorded

    def active() -> bool:
        shown = _json(stack, "port", "show", port["ID"])
        return bool(shown["status"] == "ACTIVE")

    wait_for(active, 60, "the restarted host process to finish the plug", interval=0.5)
    wait_for(lambda: _json(stack, "server", "show", server["id"])["status"] == "ACTIVE",
             60, "the server to spawn", interval=0.5)  # fmt: skip
    assert _host_process_pid(stack, "compute-2") != worker  # the supervisor restarted it
    links = _links(h2)
    assert links.count(tap) == 1 and links.count("brq") == 1 and links.count("vxlan-") == 1
    ruleset = _in(h2, "nft", "list", "ruleset").stdout
    assert ruleset.count(f"chain in-{tap} ") == 1 and ruleset.count(f"chain out-{tap} ") == 1
    ok(openstack(stack, "server", "delete", "--wait", server["id"]))
    wait_for(lambda: tap not in _links(h2), 30, "the tap to go", interval=0.5)
    assert "tap" not in _links(h2)  # nothing orphaned
