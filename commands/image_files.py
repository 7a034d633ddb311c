"""ImageStore on a local directory (Glance's 'file' store)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from commands.ports import StoredBlob
from domain.errors import Conflict, NotFound, TooLarge

_SAFE_ID = re.compile(r"^[0-9a-f-]{36}$")
CHUNK = 1 << 20
STALE_PART_SECONDS = 3600.0


class DirectoryImageStore:
    """One file per image; written to a temp name and renamed when complete."""

    def __init__(self, root: Path, now: float | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._sweep(time.time() if now is None else now)

    def _sweep(self, now: float) -> None:
        """Drop the temp files of uploads whose API process died mid-way. Other
        API processes share the folder, so only files nobody wrote to lately:
        a live upload writes every few milliseconds."""
        for part in self.root.glob(".*.part"):
            with contextlib.suppress(OSError):
                if now - part.stat().st_mtime > STALE_PART_SECONDS:
                    part.unlink()

    def _path(self, image_id: str) -> Path:
        if not _SAFE_ID.match(image_id):
            raise NotFound(f"Image {image_id} could not be found.")
        return self.root / image_id

    def put(self, image_id: str, chunks: Iterable[bytes], max_size: int) -> StoredBlob:
        path = self._path(image_id)
        # A private temp name per upload, linked into place only if no other
        # upload got there first: stored bytes are never replaced.
        tmp = path.with_name(f".{image_id}.{uuid.uuid4().hex}.part")
        md5, sha512, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
        try:
            with tmp.open("wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_size:
                        raise TooLarge(
                            f"Image exceeds the storage quota: the size cap is {max_size} bytes"
                        )
                    md5.update(chunk)
                    sha512.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise Conflict(f"Image {image_id} already has data") from None
        finally:
            tmp.unlink(missing_ok=True)
        return StoredBlob(size, md5.hexdigest(), sha512.hexdigest())

    def open(self, image_id: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        path = self._path(image_id)
        if not path.exists():
            raise NotFound(f"Image {image_id} has no data.")
        return self._read(path, offset, length)

    @staticmethod
    def _read(path: Path, offset: int, length: int | None) -> Iterator[bytes]:
        # Opened when the first chunk is asked for, so an unread answer holds no file.
        with path.open("rb") as f:
            f.seek(offset)
            left = length
            while left is None or left > 0:
                chunk = f.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def delete(self, image_id: str) -> None:
        self._path(image_id).unlink(missing_ok=True)
