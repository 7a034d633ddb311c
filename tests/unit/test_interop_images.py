"""The guest images the interop guest-login run keeps between runs: used
only when every one is there and they were built from today's init."""

from pathlib import Path

from ops.guest_images import initramfs_stamp
from ops.interop_stack import GUEST_IMAGE_FILES, fresh_images


def _images(folder: Path, stamp: str) -> Path:
    folder.mkdir()
    for name in GUEST_IMAGE_FILES:
        (folder / name).write_text(name)
    (folder / "initrd.stamp").write_text(stamp)
    return folder


def test_images_are_kept_only_whole_and_built_from_today_s_init(tmp_path: Path) -> None:
    assert fresh_images(_images(tmp_path / "today", initramfs_stamp()))
    assert not fresh_images(_images(tmp_path / "older", "0123456789abcdef"))
    partial = _images(tmp_path / "partial", initramfs_stamp())
    (partial / "whole-disk.qcow2").unlink()
    assert not fresh_images(partial)
    assert not fresh_images(tmp_path / "none")
