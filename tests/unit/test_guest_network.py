"""The guest init's network part (issue 21): its DHCP client asks for what
the DHCP server sends only when asked, and it prints what tests read."""

from ops.guest_images import INIT, initramfs_stamp
from ops.guest_network import UDHCPC_SCRIPT, network_init, udhcpc_argv


def test_the_client_asks_for_static_routes_and_mtu_and_runs_our_script() -> None:
    argv = udhcpc_argv("eth0", "/etc/s")

    assert argv[:5] == ["udhcpc", "-i", "eth0", "-s", "/etc/s"]
    assert argv[argv.index("staticroutes") - 1 : argv.index("staticroutes") + 1] == [
        "-O",
        "staticroutes",
    ]
    assert "mtu" in argv


def test_the_script_prints_the_address_and_sets_the_routes_it_got() -> None:
    assert 'echo "cloudledger-guest: $interface address $ip/$mask"' in UDHCPC_SCRIPT
    assert 'ip route replace default via "$2" dev "$interface"' in UDHCPC_SCRIPT


def test_the_init_keeps_its_console_lines_and_adds_the_network_after_them() -> None:
    assert INIT.index("cloudledger-guest: init is up") < INIT.index("cat /proc/partitions")
    assert INIT.index("end of partitions") < INIT.index(network_init().strip().splitlines()[0])
    assert "cloudledger-guest: no metadata service" in INIT


def test_the_cache_stamp_is_stable_for_one_init() -> None:
    assert len(initramfs_stamp()) == 16 and initramfs_stamp() == initramfs_stamp()
