"""What the volume worker's jobs run against: one storage host's iSCSI
target daemon, its volume files, the key its CHAP secrets derive from, and a
way to fetch images (for volumes made from one)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from workers.drivers.chap import ChapCredentials, chap_for
from workers.drivers.errors import PermanentDriverError
from workers.drivers.image_cache import Sink
from workers.drivers.iscsi import IscsiTarget
from workers.drivers.volume_files import VolumeFiles
from workers.runtime import LedgerContext

ImageFetcher = Callable[[str, Sink], None]  # image id, where its bytes go
# What this host must export (projections/volume_queries.py exports_of):
# (volume id, the attachments whose initiators are its ACL).
WantedRows = Callable[[], list[tuple[str, list[str]]]]


def _nothing_wanted() -> list[tuple[str, list[str]]]:
    return []


def _no_images(image_id: str, out: Sink) -> None:
    raise PermanentDriverError("this volume host cannot fetch images")


def _no_uploads(image_id: str, source: Path) -> None:
    raise PermanentDriverError("this volume host cannot upload images")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class VolumeContext(LedgerContext):
    """One storage host (``host``), as the volume worker serves it."""

    host: str
    target: IscsiTarget
    files: VolumeFiles
    chap_key: bytes = field(repr=False)
    fetch_image: ImageFetcher = _no_images
    upload_image: Callable[[str, Path], None] = _no_uploads  # image id, file with its data
    # Where an image's bytes wait while they become a volume.
    scratch: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    clock: Callable[[], datetime] = _now
    wanted: WantedRows = _nothing_wanted

    @property
    def portal(self) -> str:
        return str(self.target.portal)

    def chap(self, volume_id: UUID | str) -> ChapCredentials:
        """The volume's CHAP account, derived here (never stored or sent)."""
        return chap_for(self.chap_key, str(volume_id))
