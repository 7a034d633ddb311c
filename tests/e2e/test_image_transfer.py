"""Large images through the running API with bounded memory, and `openstack
image save` with the unmodified CLI."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.helpers import Session, Stack, children
from e2e.test_openstack_cli import openstack

pytestmark = pytest.mark.e2e

IMAGES = "/image/v2/images"
MIB = 1 << 20
BIG = 512 * MIB
RSS_GROWTH_LIMIT = 100 * MIB


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class PeakRss:
    """The highest RSS a process reaches while the block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, _rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _api_pid(stack: Stack) -> int:
    (pid,) = children(stack.process.pid, b"ops.cli api")
    return pid


def _big_data(md5: hashlib._Hash) -> Iterator[bytes]:
    """512 MiB made as it is sent, never held: each MiB differs from the last."""
    block = bytearray(os.urandom(MIB))
    for n in range(BIG // MIB):
        block[:8] = n.to_bytes(8, "big")
        chunk = bytes(block)
        md5.update(chunk)
        yield chunk


def test_a_512_mib_upload_and_download_keep_the_api_memory_bounded(
    admin: Session, stack: Stack
) -> None:
    created = admin.client.post(IMAGES, json={"name": "big", "disk_format": "raw"})
    assert created.status_code == 201, created.text
    image_id = created.json()["id"]
    pid = _api_pid(stack)
    before = _rss(pid)
    sent = hashlib.md5(usedforsecurity=False)
    with PeakRss(pid) as upload:
        response = admin.client.put(
            f"{IMAGES}/{image_id}/file",
            content=_big_data(sent),
            headers={"Content-Type": "application/octet-stream"},
            timeout=120,
        )
    assert response.status_code == 204, response.text
    image = admin.client.get(f"{IMAGES}/{image_id}").json()
    assert (image["status"], image["size"], image["checksum"]) == ("active", BIG, sent.hexdigest())

    received, size = hashlib.md5(usedforsecurity=False), 0
    with (
        PeakRss(pid) as download,
        admin.client.stream("GET", f"{IMAGES}/{image_id}/file", timeout=120) as stream,
    ):
        assert stream.headers["Content-MD5"] == sent.hexdigest()
        for chunk in stream.iter_bytes(MIB):
            received.update(chunk)
            size += len(chunk)
    assert (size, received.hexdigest()) == (BIG, sent.hexdigest())
    grown = max(upload.peak, download.peak) - before
    assert grown < RSS_GROWTH_LIMIT, f"the API's RSS grew by {grown // MIB} MiB for {BIG // MIB}"
    assert admin.client.delete(f"{IMAGES}/{image_id}").status_code == 204


def test_openstack_image_save_writes_the_image(
    admin: Session, stack: Stack, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 4096 + b"tail"
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    created = openstack(
        stack, "image", "create", "--file", str(source), "--disk-format", "raw",
        "--container-format", "bare", "saved-image", "-f", "value", "-c", "id",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    image_id = created.stdout.strip()
    saved = tmp_path / "saved.raw"
    result = openstack(stack, "image", "save", "--file", str(saved), image_id)
    assert result.returncode == 0, result.stderr
    assert saved.read_bytes() == data
    shown = openstack(stack, "image", "show", image_id, "-f", "value", "-c", "checksum")
    assert shown.stdout.strip() == hashlib.md5(data, usedforsecurity=False).hexdigest()
