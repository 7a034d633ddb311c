"""The images' commands of Services: create, upload, stage and import
their data, delete."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from commands import image_import, images
from commands.app import CloudApp
from commands.ports import ImageStore
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.property_protections import PropertyProtections
from domain.values import Actor


class ImageCommands:
    app: CloudApp
    image_store: ImageStore
    staging_store: ImageStore  # where imports stage their bytes
    image_size_cap: int  # Glance's image_size_cap: larger uploads get 413

    def create_image(
        self,
        cmd: images.CreateImage,
        actor: Actor,
        protections: PropertyProtections | None = None,
    ) -> Receipt:
        return images.create_image(cmd, self.app, actor, protections)

    def stage_image(
        self,
        image_id: str,
        chunks: Iterable[bytes],
        actor: Actor,
        on_abort: Callable[[Receipt], None] | None = None,
    ) -> Receipt:
        return image_import.stage_image(
            image_id, chunks, self.app, self.staging_store, actor, self.image_size_cap, on_abort
        )

    def import_image(self, image_id: str, method: str, actor: Actor) -> Receipt:
        return image_import.import_image(
            image_id,
            method,
            self.app,
            self.image_store,
            self.staging_store,
            actor,
            self.image_size_cap,
        )

    def upload_image(
        self,
        image_id: str,
        chunks: Iterable[bytes],
        actor: Actor,
        on_abort: Callable[[Receipt], None] | None = None,
    ) -> Receipt:
        return images.upload_image(
            image_id, chunks, self.app, self.image_store, actor, self.image_size_cap, on_abort
        )

    def delete_image(self, image_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: images.delete_image(image_id, self.app, self.image_store, actor)
        )
