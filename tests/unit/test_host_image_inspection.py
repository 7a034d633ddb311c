"""A compute host inspects each image before first use (issue 19): the format
inspector reads the header first, then `qemu-img info`, run with the format
named, --force-share, JSON output and Nova's CPU and memory limits, must
report the declared format with no backing file, no data file and a vmdk's
extents only inside the file. Every refusal is short and names no host path."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hostile_images import qcow2, vmdk_flat_descriptor

from workers.drivers.image_safety import (
    QEMU_IMG_LIMITS,
    QemuImgInspector,
    UnsafeImageError,
    judge,
)
from workers.drivers.runner import Completed, FakeRunner, Limits

IMAGE = "c0ffee00-1111-4222-8333-444455556666"
GIB = 1 << 30


class LimitsRecorder(FakeRunner):
    """A FakeRunner that also keeps the limits each call asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.limits: list[Limits | None] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 60.0,
        netns: str | None = None,
        input: str | None = None,
        secrets: Iterable[str] = (),
        limits: Limits | None = None,
    ) -> Completed:
        self.limits.append(limits)
        return super().run(argv, check=check, timeout=timeout, secrets=secrets)


def _info(qemu_format: str = "qcow2", **extra: Any) -> str:
    return json.dumps({"format": qemu_format, "virtual-size": GIB, **extra})


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "_base" / IMAGE
    path.parent.mkdir()
    path.write_bytes(qcow2(virtual_size=GIB))
    return path


def test_qemu_img_info_names_the_format_shares_the_lock_and_is_limited(image: Path) -> None:
    runner = LimitsRecorder()
    runner.answer(["qemu-img", "info"], _info())

    found = QemuImgInspector(runner).check(IMAGE, image, "qcow2")

    assert runner.calls == [
        ("qemu-img", "info", "--force-share", "-f", "qcow2", "--output=json", str(image))
    ]
    assert runner.limits == [QEMU_IMG_LIMITS]
    assert Limits(cpu_seconds=30, address_space_bytes=1 << 30) == QEMU_IMG_LIMITS  # Nova's
    assert (found.qemu_format, found.virtual_size) == ("qcow2", GIB)


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        pytest.param(_info(**{"backing-filename": "/etc/passwd"}), "backing file", id="backing"),
        pytest.param(
            _info(**{"format-specific": {"type": "qcow2", "data": {"data-file": "/etc/shadow"}}}),
            "external data file",
            id="data-file",
        ),
        pytest.param(_info("raw"), "reads it as 'raw'", id="another-format"),
        pytest.param("not json", "could not describe", id="garbage"),
        pytest.param(json.dumps({"format": "qcow2"}), "no virtual size", id="no-size"),
    ],
)
def test_what_qemu_img_reports_must_be_safe_too(image: Path, info: str, reason: str) -> None:
    """The inspector in Python is the first check; qemu-img's own view the second."""
    runner = FakeRunner()
    runner.answer(["qemu-img", "info"], info)

    with pytest.raises(UnsafeImageError, match=reason) as refused:
        QemuImgInspector(runner).check(IMAGE, image, "qcow2")
    assert "/etc" not in str(refused.value)  # a fault tenants see: no host path


def _vmdk(create_type: str, *extents: str) -> dict[str, Any]:
    data = {"create-type": create_type, "extents": [{"filename": e} for e in extents]}
    return {
        "format": "vmdk",
        "virtual-size": GIB,
        "format-specific": {"type": "vmdk", "data": data},
    }


def test_a_vmdk_must_be_one_file_of_an_allowed_type() -> None:
    path = Path("/cache/_base") / IMAGE

    with pytest.raises(UnsafeImageError, match="extents are not inside"):
        judge(IMAGE, path, "vmdk", _vmdk("monolithicSparse", str(path), "/var/lib/other"))
    with pytest.raises(UnsafeImageError, match="monolithicSparse"):
        judge(IMAGE, path, "vmdk", _vmdk("monolithicFlat", str(path)))
    assert judge(IMAGE, path, "vmdk", _vmdk("streamOptimized", str(path))) == GIB


@pytest.mark.parametrize(
    ("data", "disk_format", "reason"),
    [
        pytest.param(qcow2(backing="/etc/passwd"), "qcow2", "backing file", id="backing"),
        pytest.param(qcow2(data_file=True), "qcow2", "external data file", id="data-file"),
        pytest.param(vmdk_flat_descriptor("/etc/passwd"), "vmdk", "extents", id="vmdk-flat"),
        pytest.param(qcow2(), "raw", "content is qcow2", id="raw-holding-qcow2"),
    ],
)
def test_a_hostile_header_is_refused_before_any_tool_opens_it(
    tmp_path: Path, data: bytes, disk_format: str, reason: str
) -> None:
    path = tmp_path / IMAGE
    path.write_bytes(data)
    runner = FakeRunner()

    with pytest.raises(UnsafeImageError, match=reason) as refused:
        QemuImgInspector(runner).check(IMAGE, path, disk_format)

    assert runner.calls == []  # qemu-img info would itself open a flat vmdk's extent
    assert "/etc" not in str(refused.value)


def test_qemu_img_failing_to_read_it_is_a_refusal(image: Path) -> None:
    runner = FakeRunner()
    runner.answer(["qemu-img", "info"], returncode=1, stderr="qemu-img: Could not open")

    with pytest.raises(UnsafeImageError, match="cannot be read as qcow2"):
        QemuImgInspector(runner).check(IMAGE, image, "qcow2")
