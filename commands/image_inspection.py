"""Image bytes inspected as they stream in (uploads, stagings, imports,
snapshots), with OpenStack's own format inspector (oslo.utils'
``format_inspector``, as Glance, Nova and Cinder use it): the format the bytes
really are, their virtual size, and whether a tool that opens them would be
led to other files (a qcow2's backing file or external data file, a vmdk's
extents). Bytes that are not the declared ``disk_format``, or not safe, are
refused before the store keeps them (docs/image-safety.md)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from oslo_utils.imageutils import format_inspector as fi

from domain.image_safety import ImageDataRefused

log = logging.getLogger(__name__)

# What the bytes of each disk_format may be found to be. A raw disk may hold
# a partition table (the inspector calls it gpt, MBR included) or a bare
# filesystem (found as raw); an ISO may carry a GPT in front of it (a hybrid
# ISO). A kernel (AKI) starts with a boot sector that looks like an MBR.
ACCEPTED: dict[str, frozenset[str]] = {
    "raw": frozenset({"raw", "gpt"}),
    "ami": frozenset({"raw", "gpt"}),
    "aki": frozenset({"raw", "gpt"}),
    "ari": frozenset({"raw", "gpt"}),
    "qcow2": frozenset({"qcow2"}),
    "vmdk": frozenset({"vmdk"}),
    "vhd": frozenset({"vhd"}),
    "vhdx": frozenset({"vhdx"}),
    "vdi": frozenset({"vdi"}),
    "iso": frozenset({"iso"}),
}
# Loaded by QEMU as plain files (-kernel, -initrd), never through its block
# layer, so no header of theirs is followed: Glance sets no virtual size.
KERNEL_FORMATS = frozenset({"aki", "ari"})
# The inspector's safety checks, in words a tenant can act on.
_REASONS = {
    "backing_file": "a qcow2 image may not name a backing file",
    "data_file": "a qcow2 image may not name an external data file",
    "unknown_features": "it uses qcow2 features that cannot be checked",
    "descriptor": (
        "a vmdk image must keep its extents inside the file "
        "(only monolithicSparse and streamOptimized are accepted)"
    ),
    "footer": "its vmdk footer does not agree with its header",
    "mbr": "its partition table (MBR) is malformed",
    "banned": "its format is not accepted",
}


@dataclass(frozen=True)
class Inspection:
    """What the bytes were found to be."""

    detected_format: str
    virtual_size: int | None


class _Chunk:
    """The inspector's source: it reads back the chunk it was just handed."""

    def __init__(self) -> None:
        self.data = b""

    def read(self, size: int) -> bytes:
        data, self.data = self.data, b""
        return data


class InspectingStream:
    """``chunks`` passed on unchanged, each inspected on the way. Raises
    ImageDataRefused from the iteration as soon as the bytes are known to be
    refused, and at the latest instead of ending: a store that takes these
    chunks never sees the end of refused bytes, so keeps none of them.
    Afterwards, ``inspection`` says what the bytes are."""

    def __init__(self, chunks: Iterable[bytes], disk_format: str) -> None:
        if disk_format not in ACCEPTED:
            raise ImageDataRefused(f"disk_format {disk_format!r} cannot be inspected", "")
        self._chunks, self.disk_format = chunks, disk_format
        self._source = _Chunk()
        expected = disk_format if disk_format in fi.ALL_FORMATS and disk_format != "raw" else None
        self._wrapper = fi.InspectWrapper(cast(IO[bytes], self._source), expected_format=expected)
        self._inspection: Inspection | None = None

    @property
    def decided(self) -> bool:
        """Whether what the bytes are is known (the rest need not be read)."""
        return self._wrapper.formats is not None

    @property
    def inspection(self) -> Inspection:
        if self._inspection is None:
            raise RuntimeError("the stream was not read to its end")
        return self._inspection

    def __iter__(self) -> Iterator[bytes]:
        decided = False
        for chunk in self._chunks:  # the source's own errors pass through untouched
            self._eat(chunk)
            if not decided and self.decided:
                decided = True
                verdict(self._wrapper, self.disk_format)  # refuses early, or decides later
            yield chunk
        self._wrapper.close()
        self._inspection = verdict(self._wrapper, self.disk_format)

    def _eat(self, chunk: bytes) -> None:
        self._source.data = chunk
        try:
            self._wrapper.read(len(chunk))
        except fi.ImageFormatError as exc:
            log.info("image content refused as %s: %s", self.disk_format, exc)
            raise ImageDataRefused(
                f"its content is not {self.disk_format} as declared", _detected(self._wrapper)
            ) from None
        except Exception as exc:  # the declared format's inspector failed on its header
            log.warning("inspecting as %s failed: %r", self.disk_format, exc)
            raise ImageDataRefused(
                f"its {self.disk_format} header cannot be read safely", _detected(self._wrapper)
            ) from None


def _detected(wrapper: fi.InspectWrapper) -> str:
    """The formats found so far, for the record of a refusal ('' if undecided)."""
    try:
        found = wrapper.formats
    except Exception:
        return ""
    return ",".join(sorted(str(f) for f in found)) if found else ""


def verdict(wrapper: fi.InspectWrapper, disk_format: str) -> Inspection:
    """The bytes the wrapper saw, judged as ``disk_format``; ImageDataRefused
    if they are another format or fail a safety check."""
    inspector = _one_format(wrapper)
    detected = str(inspector)
    if detected not in ACCEPTED[disk_format]:
        reason = f"its content is {detected}, not {disk_format} as declared"
        raise ImageDataRefused(reason, detected)
    # A kernel's boot sector is no partition table; nothing reads it as one.
    if not (disk_format in KERNEL_FORMATS and detected == "gpt"):
        _safety_check(inspector, detected)
    if disk_format in KERNEL_FORMATS or disk_format == "ami":
        return Inspection(detected, None)  # Glance: not inspectable, no virtual size
    size = inspector.actual_size if detected == "gpt" else inspector.virtual_size
    return Inspection(detected, size)


def _one_format(wrapper: fi.InspectWrapper) -> fi.FileInspector:
    found = wrapper.formats or []
    names = {str(f): f for f in found}
    if names.keys() == {"iso", "gpt"}:
        return names["iso"]  # a hybrid ISO: bootable from a disk too
    if len(found) != 1:
        shown = ",".join(sorted(names)) or "nothing"
        raise ImageDataRefused(f"its content matches more than one format ({shown})", shown)
    return found[0]


def _safety_check(inspector: fi.FileInspector, detected: str) -> None:
    try:
        inspector.safety_check()
    except fi.SafetyCheckFailed as exc:
        names = sorted(name.removeprefix("inner_") for name in exc.failures)
        reasons = dict.fromkeys(_REASONS.get(n, f"it fails the {n} check") for n in names)
        raise ImageDataRefused("; ".join(reasons), detected) from None
    except fi.ImageFormatError:
        raise ImageDataRefused(f"its {detected} header cannot be read safely", detected) from None


def inspect_chunks(chunks: Iterable[bytes], disk_format: str) -> Inspection:
    """Read ``chunks`` through to their end: what they are, or ImageDataRefused."""
    stream = InspectingStream(chunks, disk_format)
    for _ in stream:
        pass
    return stream.inspection


FILE_CHUNK = 1 << 20


def inspect_file(path: Path, disk_format: str) -> Inspection:
    """A file judged as the upload of its bytes would be, reading only as far
    as its format needs (its header, for most); a raw disk's virtual size is
    the file's size. ImageDataRefused if it would be refused."""
    stream: InspectingStream

    def read() -> Iterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(FILE_CHUNK):
                yield chunk
                if stream.decided:
                    return

    stream = InspectingStream(read(), disk_format)
    for _ in stream:
        pass
    found = stream.inspection
    if found.virtual_size is not None and found.detected_format in ("raw", "gpt"):
        return Inspection(found.detected_format, path.stat().st_size)
    return found
