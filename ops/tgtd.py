"""A private tgtd (Linux's userspace iSCSI target), supervised like the
stack's other servers: on one portal address, controlled through its own
control port, restarted with the exports the caller lists.

tgtd knows three things worth designing around (../shared/PLATFORM.md):
it ignores SIGTERM (stop = delete every target, then ``--op delete --mode
system``); its control socket and lock are /var/run/tgtd/socket.<port>[.lock],
a file path shared by every network namespace, so the port must be unique on
the machine; and when it cannot bind the portal it asks for, it listens on
0.0.0.0:3260 instead, so start() checks the portal and refuses that."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from workers.drivers.errors import DriverError
from workers.drivers.iscsi import Portal, WantedExport, restore_exports
from workers.drivers.runner import CommandRunner, SubprocessRunner, in_netns
from workers.drivers.tgt import TgtIscsiTarget

log = logging.getLogger(__name__)

CONTROL_DIR = Path("/var/run/tgtd")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
_CONTROL_PORTS = (10000, 32767)  # tgtd refuses -C above 32767


@dataclass(frozen=True)
class TgtdConfig:
    """Where one tgtd serves and how it is reached.

    ``portal`` is an address of the storage network (127.0.0.1 with the
    test driver); ``netns`` runs tgtd inside that network namespace (the
    portal is then one of its addresses); ``state_dir`` holds its log and
    pid file."""

    state_dir: Path
    control_port: int
    portal: Portal
    netns: str | None = None


def control_port_is_free(port: int) -> bool:
    """Whether no tgtd holds the lock of control port ``port`` now."""
    CONTROL_DIR.mkdir(parents=True, exist_ok=True)
    lock = CONTROL_DIR / f"socket.{port}.lock"
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    else:
        lock.unlink()  # under our lock: the probe leaves no file behind
        return True
    finally:
        os.close(fd)


def holds_control_port(pid: int, port: int) -> bool:
    """Whether process `pid` holds the lock of control port `port` (read from
    /proc/locks): only then is the daemon on that socket the one we started."""
    try:
        inode = (CONTROL_DIR / f"socket.{port}.lock").stat().st_ino
        locks = Path("/proc/locks").read_text()
    except OSError:
        return False
    # "1: POSIX  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 0"
    for line in locks.splitlines():
        fields = line.split()
        mine = len(fields) > 5 and fields[1] == "POSIX" and fields[4] == str(pid)
        if mine and fields[5].rsplit(":", 1)[-1] == str(inode):
            return True
    return False


def remove_unheld_lock(port: int) -> None:
    """Remove the lock file of control port `port` if no tgtd holds it (taken
    while we remove it, so none can start on it meanwhile); tgtd leaves one
    per port it ever used."""
    lock = CONTROL_DIR / f"socket.{port}.lock"
    try:
        fd = os.open(lock, os.O_WRONLY)
    except OSError:
        return
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.unlink()
    except OSError:
        pass  # held: a tgtd uses it
    finally:
        os.close(fd)


def free_control_port() -> int:
    """A control port no tgtd on this machine uses now (another could take
    it before ours starts: start() then fails clearly and can be retried)."""
    for _ in range(100):
        port = random.randint(*_CONTROL_PORTS)  # noqa: S311 - not a secret
        if control_port_is_free(port):
            return port
    raise RuntimeError("no free tgtd control port")


Restore = Callable[[], Iterable[WantedExport]]


class Tgtd:
    """One tgtd process: ``start``, ``exited`` and ``stop`` as ops/stack.py's
    Supervisor wants them, so a tgtd that dies is started again, and every
    start gives it back the exports ``restore`` lists (the ledger's)."""

    name = "tgtd"

    def __init__(
        self,
        config: TgtdConfig,
        restore: Restore = list,
        runner: CommandRunner | None = None,
    ) -> None:
        self.config = config
        self._restore = restore
        self._runner = runner or SubprocessRunner()
        self._process: subprocess.Popen[bytes] | None = None
        self.log_file = config.state_dir / "tgtd.log"
        self.restored = 0  # exports given back at the last start

    @property
    def target(self) -> TgtIscsiTarget:
        """The IscsiTarget driver of this tgtd."""
        return TgtIscsiTarget(self._runner, self.config.control_port, self.config.portal)

    @property
    def pid(self) -> int | None:
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    def start(self) -> None:
        """Start tgtd, wait until it serves on its portal only, then give it
        back its exports. Raises RuntimeError if it cannot."""
        if self.pid is not None:
            return
        if not control_port_is_free(self.config.control_port):
            raise RuntimeError(
                f"another tgtd uses control port {self.config.control_port} on this machine"
            )
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        portal = self.config.portal
        argv = ["tgtd", "-f", "-C", str(self.config.control_port)]
        argv += ["--iscsi", f"portal={portal.host}:{portal.port}"]
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                in_netns(argv, self.config.netns),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the stack does not reach it
            )
        (self.config.state_dir / "tgtd.pid").write_text(f"{self._process.pid}\n")
        self._wait_until_serving()
        try:
            self.restored = restore_exports(self.target, self._restore())
        except DriverError as error:
            self.stop()
            raise RuntimeError(f"tgtd started but its exports were not restored: {error}") from None
        log.info("tgtd on %s (pid %s): %d exports restored", portal, self.pid, self.restored)

    def _wait_until_serving(self) -> None:
        assert self._process is not None
        want = f"Portal: {self.config.portal},1"
        deadline = time.monotonic() + START_TIMEOUT_S
        why = "did not answer"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                why = f"exited with code {self._process.returncode}"
                break
            if not holds_control_port(self._process.pid, self.config.control_port):
                time.sleep(0.01)  # not up yet (or another tgtd's port: never talk to it)
                continue
            shown = self._tgtadm("--op", "show", "--mode", "portal")
            if shown is not None:
                portals = [line.strip() for line in shown.splitlines() if line.strip()]
                if portals == [want]:
                    return
                why = f"serves {portals}, not only {want} (is the portal's port taken?)"
                break
            time.sleep(0.02)
        self.stop()
        tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-10:])
        raise RuntimeError(
            f"tgtd on {self.config.portal} (control port {self.config.control_port}) "
            f"{why}; last lines of {self.log_file}:\n{tail}"
        )

    def stop(self) -> None:
        """Delete every target (sessions or not), then ask tgtd to exit; kill
        it by its PID if it has not within STOP_TIMEOUT_S."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            # Only a tgtd holding our control port's lock is asked: the socket
            # may belong to another one (a failed start on a taken port).
            owner = holds_control_port(process.pid, self.config.control_port)
            if owner:
                with contextlib.suppress(DriverError):
                    self.target.delete_every_target()
                self._tgtadm("--op", "delete", "--mode", "system")
            try:
                process.wait(timeout=STOP_TIMEOUT_S if owner else 0.1)
            except subprocess.TimeoutExpired:
                if owner:
                    log.warning("tgtd (pid %d) did not exit; killing it", process.pid)
                process.send_signal(signal.SIGKILL)
                process.wait()
            if owner:
                with contextlib.suppress(OSError):
                    (CONTROL_DIR / f"socket.{self.config.control_port}").unlink()
                remove_unheld_lock(self.config.control_port)

    def _tgtadm(self, *args: str) -> str | None:
        """stdout of one tgtadm call on our control port, None if it failed."""
        argv = ["tgtadm", "-C", str(self.config.control_port), "--lld", "iscsi", *args]
        try:
            done = self._runner.run(argv, check=False, timeout=5.0)
        except DriverError:
            return None
        return done.stdout if done.ok else None
