"""The network part of the guest's busybox init: a DHCP client that sets the
address, routes and MTU it is given and prints the address on the console,
then a metadata fetch that takes the host name it got as the guest's own and
prints it and the public key (or a clear line when there is no metadata
service). ops/guest_images.py puts
these in the initramfs; tests run the same script in namespaces."""

from __future__ import annotations

# The virtio NIC, for guests booted onto networks.
NETWORK_MODULES = ("virtio_net",)
UDHCPC_SCRIPT_PATH = "/etc/udhcpc.script"
ADDRESS_LINE = "cloudledger-guest: {interface} address {ip}/{mask}"
NO_METADATA_LINE = "cloudledger-guest: no metadata service"

# udhcpc runs this with $1 = deconfig | bound | renew | leasefail | nak. A
# classless static route (option 121) carries the default route too, and a
# route to the metadata address through the DHCP server; both ip(8)s, busybox
# and iproute2, read these lines alike.
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    if [ -n "$staticroutes" ]; then
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            if [ "$1" = "0.0.0.0/0" ]; then
                ip route replace default via "$2" dev "$interface"
            else
                ip route replace "$1" via "$2" dev "$interface"
            fi
            shift 2
        done
    elif [ -n "$router" ]; then
        set -- $router
        ip route replace default via "$1" dev "$interface"
    fi
    echo "cloudledger-guest: $interface address $ip/$mask"
    ;;
leasefail)
    echo "cloudledger-guest: $interface got no address"
    ;;
esac
"""


def udhcpc_argv(interface: str, script: str = UDHCPC_SCRIPT_PATH) -> list[str]:
    """A lease, once, in the foreground: up to 5 tries a second apart; asks
    for the static routes and MTU, which a server sends only when asked."""
    return [
        "udhcpc", "-i", interface, "-s", script, "-n", "-q", "-f",
        "-t", "5", "-T", "1", "-O", "staticroutes", "-O", "mtu",
    ]  # fmt: skip


# After DHCP: the EC2-style keys are plain text, easy for a shell to print.
# HTTP by hand over nc: the static busybox's wget crashes in an initramfs
# without glibc's NSS files (it looks the "http" service up).
METADATA_FETCH = f"""
fetch() {{
    answer=$(printf 'GET /latest/meta-data/%s HTTP/1.0\\r\\nHost: 169.254.169.254\\r\\n\\r\\n' \\
        "$1" | nc -w 5 169.254.169.254 80 2>/dev/null | tr -d '\\r')
    case "$answer" in "HTTP/1."[01]" 200 "*) ;; *) return 1 ;; esac
    echo "$answer" | sed '1,/^$/d'
}}
if name=$(fetch hostname); then
    hostname "$name"
    echo "cloudledger-guest: hostname $(hostname)"
    key=$(fetch public-keys/0/openssh-key)
    echo "cloudledger-guest: public key ${{key:-none}}"
else
    echo "{NO_METADATA_LINE}"
fi
"""


def network_init() -> str:
    """The init's lines that bring eth0 up, when the guest has one. Each
    address of ``cloudledger.ping=A,B`` (on the kernel command line) is
    pinged every second, and the console told when its answer changes
    ("ping A ok" / "ping A fails"): how tests see what a guest reaches."""
    dhcp = " ".join(udhcpc_argv("eth0"))
    return f"""
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
    {dhcp}
    {METADATA_FETCH.strip().replace(chr(10), chr(10) + "    ")}
    for word in $(cat /proc/cmdline); do
        case "$word" in cloudledger.ping=*) targets="${{word#cloudledger.ping=}}" ;; esac
    done
    for target in $(echo "$targets" | tr , " "); do
        (
            last=""
            while true; do
                if ping -c 1 -W 1 "$target" >/dev/null 2>&1; then now=ok; else now=fails; fi
                [ "$now" != "$last" ] && echo "cloudledger-guest: ping $target $now"
                last=$now
                sleep 1
            done
        ) &
    done
else
    echo "cloudledger-guest: no network interface"
fi
"""
