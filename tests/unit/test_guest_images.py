"""How the guest initramfs orders its kernel modules: each after what its
.modinfo says it depends on, as modprobe would load them."""

from pathlib import Path

import pytest

from ops.guest_images import module_depends, module_order


def _module(tmp_path: Path, name: str, depends: str) -> Path:
    path = tmp_path / f"{name}.ko"
    path.write_bytes(b"\x7fELF junk\0license=GPL\0depends=" + depends.encode() + b"\0vermagic=x\0")
    return path


def test_depends_is_read_from_the_modinfo_strings(tmp_path: Path) -> None:
    assert module_depends(_module(tmp_path, "a", "virtio,virtio-ring").read_bytes()) == [
        "virtio",
        "virtio_ring",
    ]
    assert module_depends(_module(tmp_path, "b", "").read_bytes()) == []
    assert module_depends(b"no modinfo here") == []


def test_modules_come_after_their_dependencies_once_each(tmp_path: Path) -> None:
    found = {
        "virtio_ring": _module(tmp_path, "virtio_ring", ""),
        "virtio": _module(tmp_path, "virtio", "virtio_ring"),
        "virtio_pci": _module(tmp_path, "virtio_pci", "virtio_ring,virtio"),
        "virtio_blk": _module(tmp_path, "virtio_blk", "virtio,virtio_ring"),
    }
    assert module_order(found, ("virtio_pci", "virtio_blk")) == [
        "virtio_ring",
        "virtio",
        "virtio_pci",
        "virtio_blk",
    ]


def test_a_missing_or_looping_dependency_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not in the package"):
        module_order({"a": _module(tmp_path, "a", "gone")}, ("a",))
    loop = {"a": _module(tmp_path, "a", "b"), "b": _module(tmp_path, "b", "a")}
    with pytest.raises(RuntimeError, match="loop"):
        module_order(loop, ("a",))
