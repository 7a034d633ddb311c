"""Unit tests for the qemu-img command lines the disk store runs."""

from pathlib import Path

import pytest
from hostile_images import qcow2

from workers.drivers.disks import (
    QemuImgDiskStore,
    blank_argv,
    export_argv,
    overlay_argv,
    resize_argv,
)
from workers.drivers.errors import PermanentDriverError
from workers.drivers.runner import Completed, FakeRunner

INSTANCE = "6f1c2a7e-0d3b-4c55-8a9e-2b7d4e1f0c9a"


class RecordingRunner(FakeRunner):
    """Stands in for qemu-img: records argv and creates the output file (a
    qcow2 header naming the backing file it was given, if any)."""

    def __init__(self) -> None:
        super().__init__(script=self._make)

    @property
    def argvs(self) -> list[list[str]]:
        return [list(call) for call in self.calls]

    @staticmethod
    def _make(argv: tuple[str, ...]) -> Completed | None:
        output = next(arg for arg in argv if arg.endswith(".part"))
        backing = argv[argv.index("-b") + 1] if "-b" in argv else ""
        Path(output).write_bytes(qcow2(backing=backing))
        return None


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
    store = QemuImgDiskStore(tmp_path / "store", runner=runner)

    (vda,) = store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 0)

    [[*head, output, size]] = runner.argvs
    backing = str(base.resolve())
    assert head == ["qemu-img", "create", "-f", "qcow2", "-b", backing, "-F", "qcow2"]
    assert size == "10G"
    assert Path(output).parent == tmp_path / "store" / "_templates"
    assert not Path(output).exists()  # renamed into place as the template
    assert Path(vda.path).read_bytes() == qcow2(backing=backing)  # a copy of the template
    assert (vda.backing.path, vda.backing.format) == (backing, "qcow2")  # named to libvirt


def test_store_runs_a_blank_create_for_the_ephemeral_disk(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_text("image")
    runner = RecordingRunner()
    store = QemuImgDiskStore(tmp_path / "store", runner=runner)

    store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 3)

    blank = runner.argvs[1]
    assert blank[:4] == ["qemu-img", "create", "-f", "qcow2"]
    assert blank[-1] == "3G"
    assert "-b" not in blank


def test_store_runs_nothing_for_disks_that_exist(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_text("image")
    runner = RecordingRunner()
    store = QemuImgDiskStore(tmp_path / "store", runner=runner)
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 3)

    store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 3)

    assert len(runner.argvs) == 2


@pytest.mark.parametrize("bad_id", ["../etc", "ABCDEF", "-rf", "", "a/b", "a b"])
def test_store_rejects_unsafe_ids_before_running_anything(tmp_path: Path, bad_id: str) -> None:
    base = tmp_path / "base"
    base.write_text("image")
    runner = RecordingRunner()
    store = QemuImgDiskStore(tmp_path / "store", runner=runner)

    with pytest.raises(PermanentDriverError):
        store.ensure_instance_disks(bad_id, base, "qcow2", 1, 1)

    assert runner.argvs == []
    assert not (tmp_path / "store").exists()


def test_store_leaves_no_file_when_qemu_img_fails(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_text("image")

    def failing(argv: tuple[str, ...]) -> Completed:
        Path(argv[-2]).write_text("half")
        return Completed(argv, 1, "", "qemu-img: disk full")

    store = QemuImgDiskStore(tmp_path / "store", runner=FakeRunner(script=failing))

    with pytest.raises(PermanentDriverError, match="disk full"):
        store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)

    assert list((tmp_path / "store" / INSTANCE).iterdir()) == []


def test_every_qemu_img_call_names_the_format_of_what_it_opens() -> None:
    """No qemu-img probes a format: an image's header never decides how it is read."""
    export = export_argv(Path("/c/i/disk"), Path("/t/snap.qcow2"))
    resize = resize_argv(Path("/c/i/disk"), 3)
    overlay = overlay_argv(Path("/c/_base/img"), "raw", Path("/c/i/disk"), 1)

    assert export[export.index("-f") + 1] == "qcow2" and export[export.index("-O") + 1] == "qcow2"
    assert export.index("-f") < export.index("/c/i/disk")
    assert resize[resize.index("-f") + 1] == "qcow2"
    assert overlay[overlay.index("-F") + 1] == "raw"  # the base's format, as inspected


def test_an_existing_root_backed_by_another_file_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.write_text("image")
    store = QemuImgDiskStore(tmp_path / "store", runner=RecordingRunner())
    root = tmp_path / "store" / INSTANCE / "disk"
    root.parent.mkdir(parents=True)
    root.write_bytes(qcow2(backing="/etc/shadow"))

    with pytest.raises(PermanentDriverError, match="another file than its image"):
        store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)


def test_a_standalone_root_is_named_with_no_backing_file(tmp_path: Path) -> None:
    """A resized instance's root (adopted, standalone) keeps no base under it."""
    base = tmp_path / "base"
    base.write_text("image")
    store = QemuImgDiskStore(tmp_path / "store", runner=RecordingRunner())
    root = tmp_path / "store" / INSTANCE / "disk"
    root.parent.mkdir(parents=True)
    root.write_bytes(qcow2())

    (vda,) = store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)

    assert vda.backing is None
