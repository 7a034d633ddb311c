"""Glance's interoperable image import, method glance-direct: the bytes are
first staged ('uploading'), then an import ('importing') makes them the
image's data ('active'). A base of Image: its events are stored as
``domain.image_import:ImageImport.<Event>``."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor

IMPORT_METHODS = ("glance-direct",)


class ImageImport(Aggregate):
    """Staging and import; Image keeps status and upload_id."""

    status: str
    upload_id: str | None

    @property
    def staged(self) -> dict[str, Any] | None:
        """The staged bytes' size and hashes, once staging finished."""
        return self.__dict__.get("staged_data")

    def start_staging(self, upload_id: str, actor: Actor) -> None:
        """'uploading' while the bytes stream into the staging area. Staging
        again before an import replaces what was staged (Glance's too)."""
        if self.status not in ("queued", "uploading"):
            raise InvalidTransition("image", self.status, "stage")
        self._staging_started(upload_id, actor)

    class StagingStarted(Aggregate.Event):
        upload_id: str
        actor: Actor

    @event(StagingStarted)
    def _staging_started(self, upload_id: str, actor: Actor) -> None:
        self.status, self.upload_id = "uploading", upload_id
        self.staged_data: dict[str, Any] | None = None

    def record_staged(
        self, checksum: str, hash_value: str, size: int, upload_id: str, actor: Actor
    ) -> None:
        if self.status != "uploading" or self.upload_id != upload_id:
            raise InvalidTransition("image", self.status, "finish staging")
        self._staged(checksum, hash_value, size, actor)

    class Staged(Aggregate.Event):
        checksum: str
        hash_value: str  # sha512
        size: int
        actor: Actor

    @event(Staged)
    def _staged(self, checksum: str, hash_value: str, size: int, actor: Actor) -> None:
        self.staged_data = {"checksum": checksum, "hash_value": hash_value, "size": size}
        self.upload_id = None

    def start_import(self, method: str, actor: Actor) -> None:
        if method not in IMPORT_METHODS:
            raise InvalidInput(f"Import method {method!r} is not supported: one of glance-direct")
        if self.status != "uploading" or self.staged is None:
            raise InvalidTransition("image", self.status, "import (stage its data first)")
        self._import_started(method, actor)

    class ImportStarted(Aggregate.Event):
        method: str
        actor: Actor

    @event(ImportStarted)
    def _import_started(self, method: str, actor: Actor) -> None:
        self.status = "importing"

    def fail_import(self, reason: str, actor: Actor) -> None:
        """Back to 'uploading': the staged bytes are still there to import."""
        if self.status == "importing":
            self._import_failed(reason[:255], actor)

    class ImportFailed(Aggregate.Event):
        reason: str
        actor: Actor

    @event(ImportFailed)
    def _import_failed(self, reason: str, actor: Actor) -> None:
        self.status = "uploading"
