"""A stack of its own for the interop run: `cloudledger run` with private
PostgreSQL and Redis on free loopback ports and its state in a fresh folder,
as the e2e tests start theirs; stopped by SIGTERM, its group killed if stuck.

Two kinds: libvirt's test driver on two hosts (the main run), or real QEMU
guests and the real network driver on one host (the guest-login run), whose
namespaces the supervisor removes on stop (any it left are removed here)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from ops.guest_images import initramfs_stamp
from ops.ports import free_port
from workers.drivers.embedded_qemu import embedded_root
from workers.drivers.netns import list_namespaces, remove_namespace
from workers.drivers.netns_topology import stack_prefix

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90.0
# Real guests: the first start also builds the guest images (a kernel from
# the Debian mirror, an initramfs, a whole-disk image).
REAL_START_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 20.0
HOSTS = 2
# What the first start with real guests builds (ops/guest_images.py,
# ops/guest_disk.py), kept between runs when built from the same init.
GUEST_IMAGE_FILES = ("vmlinuz", "initrd.img", "initrd.stamp", "version", "whole-disk.qcow2")
REAL_GUESTS = {
    "CLOUDLEDGER_HYPERVISOR": "qemu",
    "CLOUDLEDGER_NETWORK_DRIVER": "linux",
    "CLOUDLEDGER_SHUTDOWN_TIMEOUT": "1",
}


class StackError(RuntimeError):
    """The stack did not come up; the message carries the end of its logs."""


@dataclass(frozen=True)
class InteropStack:
    """Where the running stack listens and keeps its state."""

    url: str
    state_dir: Path
    admin_password: str
    real_guests: bool = False

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def external_namespace(self) -> str:
        """With real guests: the "outside world" of its external network."""
        return f"{stack_prefix(str(self.state_dir.resolve()))}-external"


@contextlib.contextmanager
def own_stack(real_guests: bool = False, image_cache: Path | None = None) -> Iterator[InteropStack]:
    """`cloudledger run --hosts 2` on servers of its own, removed afterwards;
    ``real_guests``: `--hosts 1` with QEMU guests and the real network
    driver, whose guest images are taken from ``image_cache`` and kept there."""
    state_dir = Path(tempfile.mkdtemp(prefix="cloudledger-interop-"))
    state_dir.chmod(0o755)  # the postgres user must reach its data dir
    images = state_dir / "guest-images"  # Settings.guest_image_dir
    if real_guests and image_cache is not None:
        _copy_images(image_cache, images)
    port = free_port()
    password = f"pw-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "CLOUDLEDGER_STATE_DIR": str(state_dir),
        "CLOUDLEDGER_PORT": str(port),
        "CLOUDLEDGER_PG_PORT": str(free_port()),
        "CLOUDLEDGER_REDIS_PORT": str(free_port()),
        "CLOUDLEDGER_ADMIN_PASSWORD": password,
        "PYTHONUNBUFFERED": "1",
        **(REAL_GUESTS if real_guests else {}),
    }
    hosts = 1 if real_guests else HOSTS
    for inherited in ("CLOUDLEDGER_DATABASE_URL", "CLOUDLEDGER_REDIS_URL"):
        env.pop(inherited, None)  # never a caller's servers: this stack owns its own
    with (state_dir / "run.out").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "run", "--hosts", str(hosts)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for a last-resort kill
        )
    stack = InteropStack(f"http://127.0.0.1:{port}", state_dir, password, real_guests)
    prefix = stack_prefix(str(state_dir.resolve()))
    try:
        _wait_until_up(stack, process, REAL_START_TIMEOUT_S if real_guests else START_TIMEOUT_S)
        if real_guests and image_cache is not None:
            _copy_images(images, image_cache)
        yield stack
    finally:
        _stop(process)
        for left in list_namespaces(prefix + "-"):
            print(f"interop: warning: the stack left namespace {left}; removing it")
            remove_namespace(left)
        for n in range(1, hosts + 1):
            qemu = state_dir / "hosts" / f"compute-{n}" / "qemu"
            shutil.rmtree(embedded_root(qemu), ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)


def _copy_images(source: Path, target: Path) -> None:
    """The guest images from ``source``, if it has them all, built from
    today's init, and ``target`` does not."""
    if not fresh_images(source) or fresh_images(target):
        return
    target.mkdir(parents=True, exist_ok=True)
    for name in GUEST_IMAGE_FILES:
        shutil.copy2(source / name, target / name)


def fresh_images(folder: Path) -> bool:
    """Whether ``folder`` holds every guest image, built from today's init."""
    stamp = folder / "initrd.stamp"
    if not all((folder / name).exists() for name in GUEST_IMAGE_FILES):
        return False
    return stamp.read_text() == initramfs_stamp()


def logs_tail(state_dir: Path, lines: int = 40) -> str:
    """The end of `cloudledger run`'s output and of every child's log."""
    output = state_dir / "run.out"
    text = output.read_text(errors="replace")[-3000:] if output.exists() else ""
    parts = [f"--- run output\n{text}"]
    for log in sorted((state_dir / "logs").glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.name}\n" + "\n".join(tail))
    return "\n".join(parts)


def _wait_until_up(stack: InteropStack, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(
                f"cloudledger run exited ({process.returncode}):\n{logs_tail(stack.state_dir)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(f"{stack.url}/identity/v3", timeout=1)
            if response.status_code == 200 and (stack.state_dir / "clouds.yaml").exists():
                return
        time.sleep(0.1)
    raise StackError(f"the API did not answer within {timeout:g} s:\n{logs_tail(stack.state_dir)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the supervisor stops its children), then kill the group if stuck."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT_S)
    # Started with start_new_session: the group id is the run process's PID.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(5)
