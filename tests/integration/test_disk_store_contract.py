"""Contract tests every DiskStore must pass: the fake and the qemu-img store."""

import functools
import hashlib
import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workers.drivers.disks import DiskStore, QemuImgDiskStore
from workers.drivers.errors import PermanentDriverError
from workers.drivers.fake_disks import FakeDiskStore
from workers.drivers.image_cache import DirectoryImageCache, ImageDigest, Sink
from workers.drivers.runner import Completed, SubprocessRunner

IMAGE = "c0ffee00-1111-4222-8333-444455556666"
OTHER_IMAGE = "c0ffee00-9999-4222-8333-444455556666"
INSTANCE = "6f1c2a7e-0d3b-4c55-8a9e-2b7d4e1f0c9a"
OTHER_INSTANCE = "7a2d3b8f-1e4c-4d66-9b0f-3c8e5f2a1d0b"
GIB = 1024**3


class Fetcher:
    """A fetch callback that writes a 1 GiB qcow2 image and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, out: Sink) -> None:
        self.calls += 1
        out.write(qcow2_image())


@functools.cache
def qcow2_image() -> bytes:
    """An empty qcow2 of 1 GiB, made once."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "image.qcow2"
        SubprocessRunner().run(["qemu-img", "create", "-f", "qcow2", str(path), "1G"])
        return path.read_bytes()


def qcow2_digest() -> ImageDigest:
    data = qcow2_image()
    return ImageDigest(len(data), hashlib.sha512(data).hexdigest())


def cache_base(root: Path, image_id: str = IMAGE) -> Path:
    """The image in the host's cache under ``root``, where the disk store expects it."""
    return DirectoryImageCache(root).ensure(image_id, qcow2_digest(), Fetcher(), "qcow2")


def qemu_img_info(path: str | Path) -> dict[str, Any]:
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    info: dict[str, Any] = json.loads(out)
    return info


@pytest.fixture(params=["fake", "qemu-img"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DiskStore:
    if request.param == "fake":
        return FakeDiskStore(tmp_path / "store")
    return QemuImgDiskStore(tmp_path / "store")


@pytest.fixture
def base(store: DiskStore, tmp_path: Path) -> Path:
    return cache_base(tmp_path / "store")


def test_instance_disks_are_a_root_overlay_and_an_ephemeral_disk(
    store: DiskStore, base: Path
) -> None:
    disks = store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 2)

    assert [(d.target, d.format) for d in disks] == [("vda", "qcow2"), ("vdb", "qcow2")]
    assert store.instance_disks(INSTANCE) == sorted(Path(d.path) for d in disks)


def test_no_ephemeral_disk_is_made_when_its_size_is_zero(store: DiskStore, base: Path) -> None:
    (root,) = store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 0)

    assert root.target == "vda"
    assert store.instance_disks(INSTANCE) == [Path(root.path)]


def test_second_ensure_instance_disks_keeps_the_existing_files(
    store: DiskStore, base: Path
) -> None:
    first = store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 2)
    before = [Path(d.path).stat() for d in first]

    second = store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 2)

    assert second == first
    after = [Path(d.path).stat() for d in second]
    assert [(s.st_ino, s.st_mtime_ns) for s in after] == [(s.st_ino, s.st_mtime_ns) for s in before]


def test_instances_get_separate_disks(store: DiskStore, base: Path) -> None:
    mine = store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)
    theirs = store.ensure_instance_disks(OTHER_INSTANCE, base, "qcow2", 1, 0)

    assert mine[0].path != theirs[0].path


def test_a_missing_base_image_is_a_permanent_error(store: DiskStore, tmp_path: Path) -> None:
    with pytest.raises(PermanentDriverError):
        store.ensure_instance_disks(INSTANCE, tmp_path / "missing", "qcow2", 1, 0)

    assert store.instance_disks(INSTANCE) == []


@pytest.mark.parametrize(
    ("fmt", "root_gb", "ephemeral_gb"),
    [("vmdk-ish", 1, 0), ("qcow2", -1, 0), ("qcow2", 1, -1)],
    ids=["format", "root-size", "ephemeral-size"],
)
def test_an_invalid_disk_request_is_a_permanent_error(
    store: DiskStore, base: Path, fmt: str, root_gb: int, ephemeral_gb: int
) -> None:
    with pytest.raises(PermanentDriverError):
        store.ensure_instance_disks(INSTANCE, base, fmt, root_gb, ephemeral_gb)


def test_purge_removes_the_instance_disks_but_keeps_the_image(store: DiskStore, base: Path) -> None:
    disks = store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 1)

    store.purge_instance_disks(INSTANCE)

    assert store.instance_disks(INSTANCE) == []
    assert not any(Path(d.path).exists() for d in disks)
    assert base.is_file()


def test_purge_leaves_other_instances_alone(store: DiskStore, base: Path) -> None:
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)
    (theirs,) = store.ensure_instance_disks(OTHER_INSTANCE, base, "qcow2", 1, 0)

    store.purge_instance_disks(INSTANCE)

    assert store.instance_disks(OTHER_INSTANCE) == [Path(theirs.path)]


def test_second_purge_and_purge_of_unknown_instance_are_fine(store: DiskStore, base: Path) -> None:
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)
    store.purge_instance_disks(INSTANCE)

    store.purge_instance_disks(INSTANCE)
    store.purge_instance_disks(OTHER_INSTANCE)

    assert store.instance_disks(OTHER_INSTANCE) == []


def test_disks_can_be_made_again_after_a_purge(store: DiskStore, base: Path) -> None:
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 1)
    store.purge_instance_disks(INSTANCE)

    disks = store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 1)

    assert all(Path(d.path).is_file() for d in disks)


@pytest.mark.parametrize("bad_id", ["../escape", "UPPER", "-rf", "", "a/b"])
def test_unsafe_ids_are_a_permanent_error_everywhere(
    store: DiskStore, base: Path, bad_id: str
) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.ensure_instance_disks(bad_id, base, "qcow2", 1, 0),
        lambda: store.purge_instance_disks(bad_id),
        lambda: store.instance_disks(bad_id),
    ]
    for call in calls:
        with pytest.raises(PermanentDriverError):
            call()


# Behaviour specific to one implementation.


def test_fake_fail_next_raises_once_then_works(tmp_path: Path) -> None:
    fake = FakeDiskStore(tmp_path)
    fake.fail_next(PermanentDriverError("disk full"))

    with pytest.raises(PermanentDriverError, match="disk full"):
        fake.purge_instance_disks(INSTANCE)

    fake.purge_instance_disks(INSTANCE)


def test_qemu_img_root_disk_is_an_overlay_on_the_cached_image(tmp_path: Path) -> None:
    store = QemuImgDiskStore(tmp_path / "store")
    base = cache_base(tmp_path / "store")

    root, ephemeral = store.ensure_instance_disks(INSTANCE, base, "qcow2", 10, 2)

    info = qemu_img_info(root.path)
    assert info["format"] == "qcow2"
    assert info["full-backing-filename"] == str(tmp_path / "store" / "_base" / IMAGE)
    assert info["backing-filename-format"] == "qcow2"
    assert info["virtual-size"] == 10 * GIB
    assert root.path == str(tmp_path / "store" / INSTANCE / "disk")
    eph_info = qemu_img_info(ephemeral.path)
    assert "backing-filename" not in eph_info
    assert eph_info["virtual-size"] == 2 * GIB
    assert ephemeral.path == str(tmp_path / "store" / INSTANCE / "disk.eph0")


def test_qemu_img_root_size_zero_keeps_the_image_size(tmp_path: Path) -> None:
    store = QemuImgDiskStore(tmp_path / "store")
    base = cache_base(tmp_path / "store")

    (root,) = store.ensure_instance_disks(INSTANCE, base, "qcow2", 0, 0)

    assert qemu_img_info(root.path)["virtual-size"] == 1 * GIB


def test_qemu_img_failure_is_permanent_and_carries_its_stderr(tmp_path: Path) -> None:
    store = QemuImgDiskStore(tmp_path / "store")
    base = tmp_path / "base.qcow2"
    base.write_text("not a qcow2 at all")  # size 0: qemu-img must read the base's size

    with pytest.raises(PermanentDriverError, match=r"qemu-img .*qcow2"):
        store.ensure_instance_disks(INSTANCE, base, "qcow2", 0, 0)


def _qemu_img_check(path: str | Path) -> dict[str, Any]:
    out = subprocess.run(
        ["qemu-img", "check", "--output=json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def test_qemu_img_disks_copied_from_templates_are_sound_and_separate(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    class CountingRunner(SubprocessRunner):
        def run(self, argv: Any, **kwargs: Any) -> Completed:
            calls.append(list(argv))
            return super().run(argv, **kwargs)

    store = QemuImgDiskStore(tmp_path / "store", runner=CountingRunner())
    base = cache_base(tmp_path / "store")
    instances = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(4)]

    made = [store.ensure_instance_disks(i, base, "qcow2", 10, 2) for i in instances]

    assert len(calls) == 2  # one template per shape, not a qemu-img per disk
    for root, ephemeral in made:
        for disk in (root, ephemeral):
            check = _qemu_img_check(disk.path)
            assert (check["check-errors"], check.get("corruptions", 0)) == (0, 0)
        info = qemu_img_info(root.path)
        assert info["full-backing-filename"] == str(tmp_path / "store" / "_base" / IMAGE)
        assert info["virtual-size"] == 10 * GIB
        assert qemu_img_info(ephemeral.path)["virtual-size"] == 2 * GIB
    paths = {d.path for disks in made for d in disks}
    assert len(paths) == 8  # every instance has files of its own
    assert len({Path(p).stat().st_ino for p in paths}) == 8  # copies, not links
    store.ensure_instance_disks(instances[0], base, "qcow2", 20, 0)  # a new shape
    assert len(calls) == 2  # the root disk exists already: nothing to make


def test_qemu_img_a_new_size_gets_its_own_template(tmp_path: Path) -> None:
    store = QemuImgDiskStore(tmp_path / "store")
    base = cache_base(tmp_path / "store")
    (small,) = store.ensure_instance_disks(INSTANCE, base, "qcow2", 5, 0)
    (large,) = store.ensure_instance_disks(OTHER_INSTANCE, base, "qcow2", 50, 0)
    assert qemu_img_info(small.path)["virtual-size"] == 5 * GIB
    assert qemu_img_info(large.path)["virtual-size"] == 50 * GIB


def test_export_root_writes_the_root_disk_and_needs_one(
    store: DiskStore, base: Path, tmp_path: Path
) -> None:
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)
    dest = tmp_path / "snapshot"
    store.export_root(INSTANCE, dest)
    assert dest.stat().st_size > 0
    with pytest.raises(PermanentDriverError, match="no root disk"):
        store.export_root(OTHER_INSTANCE, tmp_path / "none")


def test_qemu_img_export_folds_the_base_into_one_standalone_qcow2(tmp_path: Path) -> None:
    store = QemuImgDiskStore(tmp_path / "store")
    base = cache_base(tmp_path / "store")
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 2, 0)
    dest = tmp_path / "snapshot.qcow2"
    store.export_root(INSTANCE, dest)
    info = qemu_img_info(dest)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert info["virtual-size"] == 2 * GIB


# Resize: the disks move aside on the source, a copy is adopted on the destination.


def test_stashed_disks_leave_the_instance_and_come_back_unchanged(
    store: DiskStore, base: Path
) -> None:
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 1)
    before = {p.name: p.read_bytes() for p in store.instance_disks(INSTANCE)}

    store.stash_disks(INSTANCE)
    store.stash_disks(INSTANCE)  # again: nothing left to move, fine
    assert store.instance_disks(INSTANCE) == []

    store.restore_stashed_disks(INSTANCE)
    store.restore_stashed_disks(INSTANCE)  # again: restored already, fine
    assert {p.name: p.read_bytes() for p in store.instance_disks(INSTANCE)} == before


def test_restoring_replaces_disks_made_since_the_stash(store: DiskStore, base: Path) -> None:
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)
    root_before = store.instance_disks(INSTANCE)[0].read_bytes()
    store.stash_disks(INSTANCE)
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 2, 1)  # a same-host resize's disks

    store.restore_stashed_disks(INSTANCE)

    disks = store.instance_disks(INSTANCE)
    assert [p.name for p in disks] == ["disk"]
    assert disks[0].read_bytes() == root_before


def test_restoring_without_any_disks_is_a_permanent_error(store: DiskStore) -> None:
    with pytest.raises(PermanentDriverError):
        store.restore_stashed_disks(INSTANCE)


def test_dropped_stash_cannot_be_restored(store: DiskStore, base: Path) -> None:
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)
    store.stash_disks(INSTANCE)

    store.drop_stashed_disks(INSTANCE)
    store.drop_stashed_disks(INSTANCE)  # none left: fine

    with pytest.raises(PermanentDriverError):
        store.restore_stashed_disks(INSTANCE)


def test_adopted_root_is_a_copy_of_the_export_with_a_new_ephemeral(
    store: DiskStore, base: Path, tmp_path: Path
) -> None:
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)
    exported = tmp_path / "exported.qcow2"
    store.export_root(INSTANCE, exported)

    disks = store.adopt_root(OTHER_INSTANCE, exported, 2, 1)
    again = store.adopt_root(OTHER_INSTANCE, tmp_path / "gone", 2, 1)  # kept as it is

    assert [d.target for d in disks] == ["vda", "vdb"]
    assert disks == again
    assert [Path(d.path) for d in disks] == store.instance_disks(OTHER_INSTANCE)


def test_adopting_nothing_is_a_permanent_error(store: DiskStore, tmp_path: Path) -> None:
    with pytest.raises(PermanentDriverError):
        store.adopt_root(INSTANCE, tmp_path / "missing.qcow2", 1, 0)


def test_qemu_img_adopted_root_is_standalone_and_grown(tmp_path: Path) -> None:
    store = QemuImgDiskStore(tmp_path / "store")
    base = cache_base(tmp_path / "store")
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 1, 0)
    exported = tmp_path / "exported.qcow2"
    store.export_root(INSTANCE, exported)

    root, ephemeral = store.adopt_root(OTHER_INSTANCE, exported, 3, 2)

    info = qemu_img_info(root.path)
    assert info["virtual-size"] == 3 * GIB
    assert "backing-filename" not in info
    assert qemu_img_info(ephemeral.path)["virtual-size"] == 2 * GIB
    subprocess.run(["qemu-img", "check", root.path], check=True, capture_output=True)


def test_qemu_img_refuses_to_shrink_an_adopted_root(tmp_path: Path) -> None:
    store = QemuImgDiskStore(tmp_path / "store")
    base = cache_base(tmp_path / "store")
    store.ensure_instance_disks(INSTANCE, base, "qcow2", 2, 0)
    exported = tmp_path / "exported.qcow2"
    store.export_root(INSTANCE, exported)

    with pytest.raises(PermanentDriverError, match="shrink"):
        store.adopt_root(OTHER_INSTANCE, exported, 1, 0)
    assert store.instance_disks(OTHER_INSTANCE) == []
