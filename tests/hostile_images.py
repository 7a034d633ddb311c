"""Image files for tests, safe and hostile, made without touching any file
but the test's own: headers crafted in Python, or qemu-img run on scratch
files in the test's folder and then pointed elsewhere. (PLATFORM.md: a
`qemu-img create -o data_file=PATH` truncates PATH; never give it a real one.)"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

CLUSTER_BITS = 16
QCOW2_HEADER_LENGTH = 104
DATA_FILE_BIT = 1 << 2  # incompatible feature: an external data file


def qcow2(
    virtual_size: int = 1 << 30,
    backing: str = "",
    data_file: bool = False,
    version: int = 3,
    tail: bytes = b"",
) -> bytes:
    """A qcow2 header (what an inspector reads), padded to a cluster, then
    ``tail``. ``backing`` names a backing file; ``data_file`` sets the
    external data file feature."""
    name = backing.encode()
    backing_offset = 512 if name else 0
    incompatible = DATA_FILE_BIT if data_file else 0
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQII",
        b"QFI\xfb",
        version,
        backing_offset,
        len(name),
        CLUSTER_BITS,
        virtual_size,
        0,  # no encryption
        0,  # l1 size
        3 << CLUSTER_BITS,  # l1 table offset
        1 << CLUSTER_BITS,  # refcount table offset
        1,  # refcount table clusters
        0,  # snapshots
        0,
        incompatible,
        0,  # compatible features
        0,  # autoclear features
        4,  # refcount order
        QCOW2_HEADER_LENGTH,
    )
    body = bytearray(header.ljust(1 << CLUSTER_BITS, b"\0"))
    body[512 : 512 + len(name)] = name
    return bytes(body) + tail


def vmdk_flat_descriptor(extent: str, sectors: int = 2048) -> bytes:
    """A text vmdk whose one extent is a FLAT file elsewhere (qemu opens it)."""
    return (
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        'createType="monolithicFlat"\n\n# Extent description\n'
        f'RW {sectors} FLAT "{extent}" 0\n\n# The Disk Data Base\n'
        'ddb.virtualHWVersion = "4"\nddb.adapterType = "ide"\n'
    ).encode()


def made_qcow2(folder: Path, size: str = "16M", backing: str = "") -> Path:
    """A real qcow2 by qemu-img; a backing file is only recorded (-F raw), never opened."""
    path = folder / f"made-{len(list(folder.glob('made-*')))}.qcow2"
    argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        argv += ["-F", "raw", "-b", backing, "-u"]
    subprocess.run([*argv, str(path), size], check=True)
    return path


def qcow2_with_data_file(folder: Path, names: str) -> Path:
    """A real qcow2 whose external data file is ``names`` (a path on the host).
    qemu-img writes to the data file it is given, so it is given a scratch
    file of the same name length in ``folder``, and the header is then
    pointed at ``names``."""
    scratch_dir = folder / "scratch"
    scratch_dir.mkdir(exist_ok=True)
    room = len(names) - len(str(scratch_dir)) - 1
    if room < 1:
        raise ValueError(f"{names!r} is shorter than a scratch path in {folder}")
    scratch = scratch_dir / ("d" * room)
    scratch.touch()
    path = folder / "data-file.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2",
         "-o", f"data_file={scratch},data_file_raw=on", str(path), "1M"],
        check=True,
    )  # fmt: skip
    data = path.read_bytes()
    assert data.count(str(scratch).encode()) == 1
    path.write_bytes(data.replace(str(scratch).encode(), names.encode()))
    return path
