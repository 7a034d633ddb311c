"""A compute host's own QEMU driver: libvirt's embedded mode
(``qemu:///embed?root=DIR``) runs it inside the worker process, so no
libvirtd is needed. Guests are QEMU processes; their state lives under DIR.

What this machine needs (see ../shared/PLATFORM.md): a ``libvirt-qemu`` user
and group, and QEMU run as root without a security driver (otherwise every
start re-probes capabilities for ~44 s)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

import libvirt

# libvirt puts each guest's monitor socket at <root>/lib/qemu/domain-<n>-<name
# cut to 20>/monitor.sock, and a UNIX socket path has room for 107 bytes.
MAX_ROOT_LENGTH = 48
QEMU_CONF = 'user = "root"\ngroup = "root"\nsecurity_driver = "none"\nstdio_handler = "file"\n'
_event_loop_lock = threading.Lock()
_event_loop: list[threading.Thread] = []  # libvirt's loop is one per process


def _run_event_loop() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def start_event_loop() -> None:
    """The embedded driver needs libvirt's event loop running (once per
    process) before the first connection opens."""
    with _event_loop_lock:
        if _event_loop:
            return
        libvirt.virEventRegisterDefaultImpl()
        thread = threading.Thread(target=_run_event_loop, name="libvirt-events", daemon=True)
        thread.start()
        _event_loop.append(thread)


def embedded_root(wanted: Path) -> Path:
    """``wanted``, or a short directory named after it when its path is too
    long for the guests' monitor sockets."""
    if len(str(wanted)) <= MAX_ROOT_LENGTH:
        return wanted
    digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"cloudledger-qemu-{digest}"


def open_embedded_qemu(wanted_root: Path) -> libvirt.virConnect:
    root = embedded_root(wanted_root)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / "etc").mkdir(exist_ok=True)
    conf = root / "etc" / "qemu.conf"
    if not conf.exists() or conf.read_text() != QEMU_CONF:
        conf.write_text(QEMU_CONF)
    start_event_loop()
    return libvirt.open(f"qemu:///embed?root={root}")


def qemu_domain_type(asked: str | None) -> str:
    """``kvm`` only when asked for and /dev/kvm opens; otherwise ``qemu``
    (TCG, software emulation), which works everywhere, if slowly."""
    if asked == "kvm" and _kvm_opens():
        return "kvm"
    return "qemu"


def _kvm_opens() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True
