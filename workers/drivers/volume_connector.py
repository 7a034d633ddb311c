"""How a compute host reaches a volume: QEMU's own iSCSI initiator (libiscsi)
in a ``qemu-storage-daemon`` per attachment, which logs in with the volume's
CHAP secret and serves the disk to the guest's QEMU over NBD on a unix
socket in a private folder.

Why not the guest's QEMU itself: libvirt's embedded QEMU driver cannot use
libvirt secrets (docs/block-storage.md has the measurements), and a secret
on QEMU's command line would show in ``ps``. Here the secret reaches the
daemon on its stdin (``file=/dev/stdin``): never an argument, a file, a log
line or a domain XML. The unix socket also crosses network namespaces, so a
guest's QEMU in a host namespace reaches a target its own loopback cannot."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.iscsi import (
    TargetAddress,
    attachment_initiator_iqn,
    canonical_volume_id,
    validate_chap,
)
from workers.drivers.runner import CommandFailed, CommandRunner

EXPORT_NAME = "volume"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
# A unix socket path has room for 107 bytes: <root>/<36-char id>/nbd.sock.
MAX_ROOT_LENGTH = 60
_REFUSED = ("Authentication failure", "Target not found", "Authorization failure")


@dataclass(frozen=True)
class VolumeDisk:
    """A volume as one disk of a guest: the attachment (which names the
    initiator), the device the guest sees (vdc ...), where the target is
    and the volume's CHAP account. The secret is never in a repr."""

    attachment_id: str
    volume_id: str
    target: str
    address: TargetAddress
    chap_user: str
    chap_secret: str = field(repr=False)

    @property
    def initiator_iqn(self) -> str:
        return attachment_initiator_iqn(self.attachment_id)

    def validate(self) -> None:
        """PermanentDriverError unless every part is safe to use."""
        canonical_volume_id(self.volume_id)
        self.initiator_iqn  # noqa: B018 - validates the attachment id
        validate_chap(self.chap_user, self.chap_secret)


def connector_root(wanted: Path) -> Path:
    """``wanted``, or a short folder named after it when its path leaves no
    room for the sockets' names."""
    if len(str(wanted)) <= MAX_ROOT_LENGTH:
        return wanted
    digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"cloudledger-vol-{digest}"


class QsdConnector:
    """Connects this host to volumes, one qemu-storage-daemon per attachment
    under ``root`` (mode 0700): ``<attachment>/nbd.sock`` and its pid file.

    Daemons outlive the worker that started them (as guests do), and are
    found again by their pid file."""

    def __init__(self, root: Path, runner: CommandRunner, netns: str | None = None) -> None:
        self.root = connector_root(root)
        self._runner = runner
        self._netns = netns

    def socket_path(self, attachment_id: str) -> str:
        return str(self._folder(attachment_id) / "nbd.sock")

    def ensure_connected(self, disk: VolumeDisk) -> str:
        """Log in to the volume's target as the attachment's initiator and
        serve it on the attachment's socket; return the socket's path. A
        daemon already serving it is kept.

        Raises PermanentDriverError when the target refuses the login (a
        wrong secret, no ACL entry, no such target), TransientDriverError
        when it cannot be reached."""
        disk.validate()
        if self._alive(disk.attachment_id):
            return self.socket_path(disk.attachment_id)
        folder = self._folder(disk.attachment_id)
        self._clean(folder)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._runner.run(
                self._argv(disk, folder),
                input=disk.chap_secret,
                secrets=[disk.chap_secret],
                timeout=START_TIMEOUT_S,
                netns=self._netns,
            )
        except CommandFailed as failed:
            self._clean(folder)
            reason = failed.result.stderr.rsplit(":", 1)[-1].strip()
            message = f"cannot connect to {disk.address.iqn} as {disk.initiator_iqn}: {reason}"
            if any(refused in failed.result.stderr for refused in _REFUSED):
                raise PermanentDriverError(message) from None
            raise TransientDriverError(message) from None
        return self.socket_path(disk.attachment_id)

    def ensure_disconnected(self, attachment_id: str) -> None:
        """Stop the attachment's daemon (its session logs out) and remove its
        folder. Nothing to stop is fine. The guest must have let go of the
        disk first: its QEMU then sees I/O errors."""
        folder = self._folder(attachment_id)
        pid = self._pid(attachment_id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while self._pid(attachment_id) == pid and time.monotonic() < deadline:
                time.sleep(0.02)
            if self._pid(attachment_id) == pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._clean(folder)

    def connected(self) -> list[str]:
        """The attachments whose daemon runs now, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if self._alive(p.name))

    def pid_of(self, attachment_id: str) -> int | None:
        """The attachment's daemon's PID, if it runs."""
        return self._pid(attachment_id)

    def _argv(self, disk: VolumeDisk, folder: Path) -> list[str]:
        # JSON for every option: no value can be read as another option.
        blockdev = {
            "driver": "iscsi",
            "node-name": EXPORT_NAME,
            "transport": "tcp",
            "portal": str(disk.address.portal),
            "target": disk.address.iqn,
            "lun": disk.address.lun,
            "user": disk.chap_user,
            "password-secret": "chap",
            "initiator-name": disk.initiator_iqn,
        }
        server = {"addr": {"type": "unix", "path": str(folder / "nbd.sock")}, "max-connections": 1}
        export = {"type": "nbd", "id": EXPORT_NAME, "node-name": EXPORT_NAME, "writable": True}
        return [
            "qemu-storage-daemon",
            "--daemonize",
            "--pidfile", str(folder / "pid"),
            # Read from our pipe once, at start: the secret never touches disk.
            "--object", json.dumps({"qom-type": "secret", "id": "chap", "file": "/dev/stdin"}),
            "--blockdev", json.dumps(blockdev),
            "--nbd-server", json.dumps(server),
            "--export", json.dumps({**export, "name": EXPORT_NAME}),
        ]  # fmt: skip

    def _folder(self, attachment_id: str) -> Path:
        attachment_initiator_iqn(attachment_id)  # validates it
        return self.root / attachment_id.lower()

    def _alive(self, attachment_id: str) -> bool:
        return self._pid(attachment_id) is not None

    def _pid(self, attachment_id: str) -> int | None:
        """The PID in the pid file if that process is this attachment's daemon."""
        folder = self._folder(attachment_id)
        try:
            pid = int((folder / "pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        mine = str(folder / "pid").encode() in cmdline
        return pid if mine and cmdline[0].endswith(b"qemu-storage-daemon") else None

    def _clean(self, folder: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(folder)
