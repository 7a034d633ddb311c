"""Network namespaces: make, remove and enter them, through pyroute2.

A namespace is named by a file under /run/netns (iproute2's convention, so
`ip netns exec` and the command runner's ``netns=`` find it). Entering one
is done by a short-lived thread (``setns`` moves only the calling thread):
the worker process itself stays in its own namespace, next to 127.0.0.1's
PostgreSQL, Redis and API, which a namespace cannot reach.

pyroute2's own ways into a namespace (``IPRoute(netns=...)``,
``netns.create``, ``Conntrack(netns=...)``) fork the calling process. A fork
of a process with threads (a worker, the test runner) that does not reach
its ``_exit`` (seen under load: its reply socket closed by a timeout) goes on
as a second copy of that process, in the namespace. So nothing here lets
pyroute2 fork: netlink sockets are opened by a thread inside the namespace
(`netlink_socket`) and handed to pyroute2 by their descriptor, and
namespaces are made by `ip netns add`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from workers.drivers.errors import PermanentDriverError, TransientDriverError

NETNS_DIR = Path("/run/netns")
NETLINK_ROUTE = 0
NETLINK_NETFILTER = 12
# Namespace names become file names and `ip netns exec` arguments.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

T = TypeVar("T")


def check_name(name: str) -> str:
    """``name`` if it can name a namespace; PermanentDriverError otherwise."""
    if not _NAME.match(name):
        raise PermanentDriverError(f"not a namespace name: {name!r}")
    return name


def namespace_exists(name: str) -> bool:
    return (NETNS_DIR / check_name(name)).exists()


def list_namespaces(prefix: str) -> list[str]:
    """The namespaces whose names start with ``prefix``, sorted."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def ensure_namespace(name: str) -> None:
    """Make the namespace if it is missing, with its loopback up."""
    if not namespace_exists(name):
        made = subprocess.run(
            ["ip", "netns", "add", check_name(name)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if made.returncode != 0 and not namespace_exists(name):  # not another worker's race
            raise PermanentDriverError(f"cannot create namespace {name}: {made.stderr.strip()}")
    with ipr(name) as ip:
        ip.link("set", index=ip.link_lookup(ifname="lo")[0], state="up")


def remove_namespace(name: str) -> None:
    """Remove the namespace's name; a missing one is fine. Its devices go
    when nothing holds it any more (end its processes first)."""
    if namespace_exists(name):
        with suppress(FileNotFoundError):
            netns.remove(name)


@contextmanager
def ipr(name: str | None) -> Iterator[IPRoute]:
    """A netlink socket in namespace ``name`` (None: this process's own)."""
    if name is not None and not namespace_exists(name):
        raise TransientDriverError(f"namespace {name} does not exist")
    ip = IPRoute(fileno=netlink_socket(name, NETLINK_ROUTE))
    try:
        yield ip
    finally:
        ip.close()


def netlink_socket(name: str | None, protocol: int) -> int:
    """A netlink socket of ``protocol`` opened in namespace ``name``, as a
    file descriptor for pyroute2's ``fileno=``: a socket belongs to the
    namespace it was opened in, whichever thread then uses it."""

    def open_socket() -> int:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, protocol).detach()

    return in_namespace(name, open_socket)


def in_namespace(name: str | None, work: Callable[[], T]) -> T:
    """Run ``work`` in a new thread that entered namespace ``name`` and
    return its result (or raise its exception). Sockets and processes it
    makes belong to that namespace; this thread's stays as it was."""
    if name is None:
        return work()
    check_name(name)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def enter_and_run() -> None:
        try:
            netns.setns(name, flags=0)
            outcome.append(work())
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=enter_and_run, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def add_tap(name: str | None, ifname: str) -> None:
    """Make tap ``ifname`` in namespace ``name`` (an existing one is fine).
    A tap is made by an ioctl on /dev/net/tun, which acts in the namespace
    of the calling thread, not that of a netlink socket: so in a thread
    inside the namespace, with a netlink socket of its own."""

    def make() -> None:
        with IPRoute() as ip:
            tolerate_exists(lambda: ip.link("add", ifname=ifname, kind="tuntap", mode="tap"))

    in_namespace(name, make)


def set_sysctl(name: str | None, key: str, value: str) -> None:
    """Write ``/proc/sys/<key>`` (dotted or slashed) in namespace ``name``:
    /proc/sys/net answers for the namespace of the thread that opens it."""
    path = Path("/proc/sys") / key.replace(".", "/")

    def write() -> None:
        path.write_text(value)

    in_namespace(name, write)


def link_index(ip: IPRoute, ifname: str) -> int | None:
    """The index of ``ifname`` in ``ip``'s namespace, or None."""
    found = ip.link_lookup(ifname=ifname)
    return int(found[0]) if found else None


def delete_link(ip: IPRoute, ifname: str) -> None:
    """Delete ``ifname`` if it exists (a veth takes its peer with it)."""
    index = link_index(ip, ifname)
    if index is None:
        return
    try:
        ip.link("del", index=index)
    except NetlinkError as error:
        if error.code != 19:  # ENODEV: gone meanwhile
            raise


def tolerate_exists(action: Callable[[], object]) -> None:
    """Run a netlink ``action``; EEXIST means another worker made it first."""
    try:
        action()
    except NetlinkError as error:
        if error.code != 17:
            raise


def replace_addresses(ip: IPRoute, ifname: str, wanted: set[tuple[str, int]]) -> None:
    """Make ``ifname``'s IPv4 addresses exactly ``wanted`` (address, prefix
    length); its IPv6 link-local address is left alone."""
    index = link_index(ip, ifname)
    if index is None:
        raise TransientDriverError(f"{ifname} vanished")
    present = {(str(a.get("IFA_ADDRESS")), int(a["prefixlen"])) for a in ip.get_addr(index=index)}
    for address, prefixlen in present - wanted:
        if ipaddress.ip_address(address).version == 4:
            ip.addr("del", index=index, address=address, prefixlen=prefixlen)
    for address, prefixlen in sorted(wanted - present):
        _add_address(ip, index, address, prefixlen)


def _add_address(ip: IPRoute, index: int, address: str, prefixlen: int) -> None:
    tolerate_exists(lambda: ip.addr("add", index=index, address=address, prefixlen=prefixlen))


def namespace_pids(name: str) -> list[int]:
    """Processes whose network namespace is ``name`` (for leak checks)."""
    try:
        found = os.stat(NETNS_DIR / check_name(name))
    except FileNotFoundError:
        return []
    wanted = (found.st_dev, found.st_ino)
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            held = os.stat(entry / "ns" / "net")
            if (held.st_dev, held.st_ino) == wanted:
                pids.append(int(entry.name))
        except OSError:
            continue
    return sorted(pids)
