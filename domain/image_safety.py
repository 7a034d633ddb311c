"""What inspecting an image's bytes found: the format they really are, their
virtual size (Glance's ``virtual_size``), and refusals of bytes that are not
safe to open (a qcow2 naming a backing file or an external data file, a vmdk
whose extents lie outside the file, content that is not the declared
``disk_format``). A base of Image: its events are stored as
``domain.image_safety:ImageSafety.<Event>``."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import Forbidden, InvalidInput, InvalidTransition
from domain.image_import import ImageImport
from domain.values import Actor


class ImageDataRefused(InvalidInput):
    """The bytes of an upload, a staging or an import were refused (400):
    nothing of them is kept. ``reason`` is short and names no host path."""

    def __init__(self, reason: str, detected_format: str) -> None:
        super().__init__(f"Image data refused: {reason}.")
        self.reason, self.detected_format = reason, detected_format


class ImageSafety(ImageImport):
    """Inspection results; Image keeps status, upload_id and the staging."""

    @property
    def detected_format(self) -> str | None:
        """The format the stored bytes were found to be; None if never inspected
        (images stored before inspection, until ``cloudledger image-scan``)."""
        return self.__dict__.get("inspected_format")

    @property
    def virtual_size(self) -> int | None:
        """The disk size a guest sees, in bytes (None: unknown, as for AKI/ARI)."""
        return self.__dict__.get("inspected_virtual_size")

    @property
    def unsafe_reason(self) -> str | None:
        """Why the stored bytes were found unsafe; such an image never boots again."""
        return self.__dict__.get("found_unsafe")

    def record_inspection(
        self, detected_format: str, virtual_size: int | None, actor: Actor
    ) -> None:
        """The bytes about to be (or already) stored passed inspection."""
        if virtual_size is not None and virtual_size < 0:
            raise InvalidInput("virtual_size must not be negative")
        self._inspected(detected_format, virtual_size, actor)

    class Inspected(Aggregate.Event):
        detected_format: str
        virtual_size: int | None
        actor: Actor

    @event(Inspected)
    def _inspected(self, detected_format: str, virtual_size: int | None, actor: Actor) -> None:
        self.inspected_format, self.inspected_virtual_size = detected_format, virtual_size

    def refuse_data(
        self, upload_id: str | None, reason: str, detected_format: str, actor: Actor
    ) -> bool:
        """Back to 'queued', with nothing staged, if the refused bytes are still
        the ones coming in (this upload or staging, or the import running);
        whether they were. The reason stays in the ledger: who tried what."""
        saving = getattr(self, "upload_id", None)  # images from before streamed uploads have none
        streaming = self.status in ("saving", "uploading") and saving == upload_id
        importing = self.status == "importing" and upload_id is None
        if not (streaming or importing):
            return False
        self._upload_refused(upload_id or "", reason[:255], detected_format[:32], actor)
        return True

    class UploadRefused(Aggregate.Event):
        upload_id: str  # "" for an import
        reason: str
        detected_format: str
        actor: Actor

    @event(UploadRefused)
    def _upload_refused(
        self, upload_id: str, reason: str, detected_format: str, actor: Actor
    ) -> None:
        self.status, self.upload_id = "queued", None
        self.staged_data = None

    def quarantine(self, reason: str, detected_format: str, actor: Actor) -> None:
        """Stored bytes found unsafe after the fact (``cloudledger image-scan``):
        deactivated, and never reactivated."""
        if self.status not in ("active", "deactivated"):
            raise InvalidTransition("image", self.status, "quarantine")
        self._found_unsafe(reason[:255], detected_format[:32], actor)

    class FoundUnsafe(Aggregate.Event):
        reason: str
        detected_format: str
        actor: Actor

    @event(FoundUnsafe)
    def _found_unsafe(self, reason: str, detected_format: str, actor: Actor) -> None:
        self.status, self.found_unsafe = "deactivated", reason
        self.inspected_format = detected_format

    def require_safe_to_reactivate(self) -> None:
        if self.unsafe_reason:
            raise Forbidden(
                f"Image {self.id} failed its safety inspection ({self.unsafe_reason}) "
                "and cannot be reactivated."
            )
