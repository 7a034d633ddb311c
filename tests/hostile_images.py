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
    file in ``folder``; the header extension is then pointed at ``names``."""
    scratch = folder / "scratch-data-file"
    scratch.touch()
    path = folder / "data-file.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2",
         "-o", f"data_file={scratch},data_file_raw=on", str(path), "1M"],
        check=True,
    )  # fmt: skip
    path.write_bytes(_with_extension(path.read_bytes(), DATA_FILE_EXTENSION, names.encode()))
    return path


DATA_FILE_EXTENSION = 0x44415441  # "DATA": the external data file's name


def _with_extension(image: bytes, kind: int, value: bytes) -> bytes:
    """The qcow2 with header extension ``kind`` set to ``value`` (the
    extensions follow the header, each padded to 8 bytes, up to a zero type)."""
    (header_length,) = struct.unpack(">I", image[100:104])
    offset, extensions = header_length, []
    while True:
        ext_type, length = struct.unpack(">II", image[offset : offset + 8])
        if ext_type == 0:
            break
        extensions.append((ext_type, image[offset + 8 : offset + 8 + length]))
        offset += 8 + (length + 7) // 8 * 8
    extensions = [(t, value if t == kind else v) for t, v in extensions]
    packed = b"".join(
        struct.pack(">II", t, len(v)) + v.ljust((len(v) + 7) // 8 * 8, b"\0") for t, v in extensions
    ) + bytes(8)
    end = header_length + len(packed)
    assert end <= 1 << CLUSTER_BITS, "the extensions must fit in the header's cluster"
    return image[:header_length] + packed + image[end:]
