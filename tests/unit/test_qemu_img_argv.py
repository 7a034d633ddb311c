"""Unit tests for the qemu-img command lines the disk store runs."""

from pathlib import Path

import pytest

from workers.drivers.disks import QemuImgDiskStore, blank_argv, overlay_argv
from workers.drivers.errors import PermanentDriverError

INSTANCE = "6f1c2a7e-0d3b-4c55-8a9e-2b7d4e1f0c9a"


class RecordingRunner:
    """Stands in for qemu-img: records argv and creates the output file."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> None:
        self.calls.append(argv)
        output = next(arg for arg in argv if arg.endswith(".part"))
        Path(output).write_text("qcow2")


def test_overlay_argv_backs_a_qcow2_on_the_base_with_a_size() -> None:
    argv = overlay_argv(Path("/c/_base/img"), "raw", Path("/c/i/disk"), 20)

    assert argv == [
        "qemu-img", "create", "-f", "qcow2",
        "-b", "/c/_base/img", "-F", "raw", "/c/i/disk", "20G",
    ]  # fmt: skip


def test_overlay_argv_of_size_zero_keeps_the_base_size() -> None:
    argv = overlay_argv(Path("/c/_base/img"), "qcow2", Path("/c/i/disk"), 0)

    assert argv[-1] == "/c/i/disk"


def test_blank_argv_makes_an_empty_qcow2_of_the_size() -> None:
    argv = blank_argv(Path("/c/i/disk.eph0"), 5)

    assert argv == ["qemu-img", "create", "-f", "qcow2", "/c/i/disk.eph0", "5G"]


def test_store_makes_the_overlay_template_in_a_temp_file_then_copies_it(
    tmp_path: Path,
) -> None:
    base = tmp_path / "base"
    base.write_text("image")
    runner = RecordingRunner()
    store = QemuImgDiskStore(tmp_path / "store", run=runner)

    (vda,) = store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 0)

    [[*head, output, size]] = runner.calls
    backing = str(base.resolve())
    assert head == ["qemu-img", "create", "-f", "qcow2", "-b", backing, "-F", "qcow2"]
    assert size == "10G"
    assert Path(output).parent == tmp_path / "store" / "_templates"
    assert not Path(output).exists()  # renamed into place as the template
    assert Path(vda.path).read_text() == "qcow2"  # a copy of the template


def test_store_runs_a_blank_create_for_the_ephemeral_disk(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_text("image")
    runner = RecordingRunner()
    store = QemuImgDiskStore(tmp_path / "store", run=runner)

    store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 3)

    blank = runner.calls[1]
    assert blank[:4] == ["qemu-img", "create", "-f", "qcow2"]
    assert blank[-1] == "3G"
    assert "-b" not in blank


def test_store_runs_nothing_for_disks_that_exist(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_text("image")
    runner = RecordingRunner()
    store = QemuImgDiskStore(tmp_path / "store", run=runner)
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 3)

    store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 3)

    assert len(runner.calls) == 2


@pytest.mark.parametrize("bad_id", ["../etc", "ABCDEF", "-rf", "", "a/b", "a b"])
def test_store_rejects_unsafe_ids_before_running_anything(tmp_path: Path, bad_id: str) -> None:
    base = tmp_path / "base"
    base.write_text("image")
    runner = RecordingRunner()
    store = QemuImgDiskStore(tmp_path / "store", run=runner)

    with pytest.raises(PermanentDriverError):
        store.ensure_instance_disks(bad_id, base, "qcow2", 1, 1)

    assert runner.calls == []
    assert not (tmp_path / "store").exists()


def test_store_leaves_no_file_when_qemu_img_fails(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_text("image")

    def failing(argv: list[str]) -> None:
        Path(argv[-2]).write_text("half")
        raise PermanentDriverError("qemu-img: disk full")

    store = QemuImgDiskStore(tmp_path / "store", run=failing)

    with pytest.raises(PermanentDriverError, match="disk full"):
        store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)

    assert list((tmp_path / "store" / INSTANCE).iterdir()) == []
