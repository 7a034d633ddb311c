"""Services: the command side as one object, with concurrency retries."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError

from commands import (
    catalog,
    host_aggregates,
    image_import,
    images,
    keypairs,
    server_details,
    server_groups,
    server_rebuild,
    server_resize,
    servers,
)
from commands.app import CloudApp
from commands.combining import Combiner
from commands.identity_services import IdentityCommands, creating
from commands.image_files import DirectoryImageStore
from commands.image_metadata import ImageMetadataCommands
from commands.lockout import Lockout, MemoryLoginAttempts
from commands.ports import ImageStore, PasswordHasher
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.errors import Conflict
from domain.property_protections import PropertyProtections
from domain.quota import Quota
from domain.values import Actor

T = TypeVar("T")


BootRequest = tuple[servers.BootServer, Actor]


def _run_each(updates: Sequence[Callable[[], Receipt]]) -> list[Receipt | BaseException]:
    """Quota updates are rare: take turns, but run each on its own."""
    outcomes: list[Receipt | BaseException] = []
    for update in updates:
        try:
            outcomes.append(update())
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


class Services(IdentityCommands, ImageMetadataCommands):
    """Every command a user (or the API) can give, ready to call from a thread."""

    def __init__(
        self,
        app: CloudApp,
        hasher: PasswordHasher,
        image_store: ImageStore,
        lockout: Lockout | None = None,
        image_size_cap: int = images.MAX_IMAGE_BYTES,
        staging_store: ImageStore | None = None,
    ):
        self.app, self.hasher, self.image_store = app, hasher, image_store
        # Where image imports stage their bytes (Glance's default: /tmp/staging).
        self.staging_store = staging_store or DirectoryImageStore(
            Path(tempfile.gettempdir()) / "cloudledger-image-staging"
        )
        self.image_size_cap = image_size_cap  # Glance's image_size_cap: larger uploads get 413
        # Processes that log users in pass the PostgreSQL-backed one (bootstrap).
        self.lockout = lockout or Lockout(MemoryLoginAttempts())
        # Writes to one project's quota in this process take turns (commands/combining.py).
        self._boots: Combiner[BootRequest, Receipt] = Combiner(self._boot_all)
        self._quota_updates: Combiner[Callable[[], Receipt], Receipt] = Combiner(_run_each)

    def boot_server(self, cmd: servers.BootServer, actor: Actor) -> Receipt:
        return self._boots.run(Quota.create_id(actor.project_id), (cmd, actor))

    def boot_servers(self, requests: Sequence[BootRequest]) -> list[Receipt | BaseException]:
        """Boots of one project in one save (retried whole on a conflict);
        the caller makes sure no other boot of the project runs meanwhile."""
        return list(retry_on_conflict(lambda: servers.boot_servers(requests, self.app)))

    def _boot_all(self, requests: Sequence[BootRequest]) -> list[Receipt | BaseException]:
        return self.boot_servers(requests)

    def server_action(self, action: str, server_id: str, actor: Actor) -> Receipt:
        (outcome,) = self.server_actions([(action, server_id, actor)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def server_actions(
        self, requests: Sequence[servers.ActionRequest]
    ) -> list[Receipt | BaseException]:
        """Stops, starts and deletes in one save (retried whole on a conflict)."""
        return list(retry_on_conflict(lambda: servers.act_on_servers(requests, self.app)))

    def create_flavor(self, cmd: catalog.CreateFlavor, actor: Actor) -> Receipt:
        return creating(
            f"Flavor with ID {cmd.flavor_id}", lambda: catalog.create_flavor(cmd, self.app, actor)
        )

    def delete_flavor(self, flavor_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: catalog.delete_flavor(flavor_id, self.app, actor))

    def set_extra_specs(self, flavor_id: str, specs: dict[str, str], actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: catalog.set_extra_specs(flavor_id, specs, self.app, actor))

    def delete_extra_spec(self, flavor_id: str, key: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: catalog.delete_extra_spec(flavor_id, key, self.app, actor))

    def change_flavor_access(
        self, flavor_id: str, project_id: str, grant: bool, actor: Actor
    ) -> Receipt:
        return retry_on_conflict(
            lambda: catalog.change_flavor_access(flavor_id, project_id, grant, self.app, actor)
        )

    def update_quota(self, project_id: str, limits: dict[str, int], actor: Actor) -> Receipt:
        return self._quota_updates.run(
            Quota.create_id(project_id),
            lambda: retry_on_conflict(
                lambda: catalog.update_quota(project_id, limits, self.app, actor)
            ),
        )

    def set_server_metadata(
        self, server_id: str, items: dict[str, str], replace: bool, actor: Actor
    ) -> Receipt:
        return retry_on_conflict(
            lambda: server_details.set_metadata(server_id, items, replace, self.app, actor)
        )

    def delete_server_metadata(self, server_id: str, key: str, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: server_details.delete_metadata_item(server_id, key, self.app, actor)
        )

    def update_server(
        self,
        server_id: str,
        name: str | None,
        description: str | None,
        actor: Actor,
        access: tuple[str | None, str | None] = (None, None),
    ) -> Receipt:
        return retry_on_conflict(
            lambda: server_details.update_server(
                server_id, name, description, self.app, actor, access
            )
        )

    def change_server_tags(
        self, server_id: str, change: Callable[[list[str]], list[str]], actor: Actor
    ) -> Receipt:
        return retry_on_conflict(
            lambda: server_details.change_tags(server_id, change, self.app, actor)
        )

    def snapshot_server(
        self,
        server_id: str,
        name: str,
        metadata: dict[str, str],
        actor: Actor,
        protections: PropertyProtections | None = None,
    ) -> Receipt:
        return retry_on_conflict(
            lambda: server_details.snapshot_server(
                server_id, name, metadata, self.app, actor, protections
            )
        )

    def rebuild_server(self, cmd: server_rebuild.RebuildServer, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: server_rebuild.rebuild_server(cmd, self.app, actor))

    def resize_server(self, server_id: str, flavor_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: server_resize.resize_server(server_id, flavor_id, self.app, actor)
        )

    def confirm_resize(self, server_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: server_resize.confirm_resize(server_id, self.app, actor))

    def revert_resize(self, server_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: server_resize.revert_resize(server_id, self.app, actor))

    def create_group(self, name: str, policy: str, actor: Actor) -> Receipt:
        return server_groups.create_group(name, policy, self.app, actor)

    def delete_group(self, group_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: server_groups.delete_group(group_id, self.app, actor))

    def create_keypair(self, cmd: keypairs.CreateKeypair, actor: Actor) -> keypairs.CreatedKeypair:
        try:
            return keypairs.create_keypair(cmd, self.app, actor)
        except IntegrityError:  # a racing create of the same name
            raise Conflict(f"Key pair '{cmd.name}' already exists.") from None

    def delete_keypair(self, user_id: str, name: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: keypairs.delete_keypair(user_id, name, self.app, actor))

    def set_host_enabled(
        self, name: str, enabled: bool, actor: Actor, reason: str | None = None
    ) -> Receipt:
        return retry_on_conflict(
            lambda: catalog.set_host_enabled(name, enabled, self.app, actor, reason)
        )

    def set_host_forced_down(self, name: str, forced_down: bool, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: catalog.set_host_forced_down(name, forced_down, self.app, actor)
        )

    def create_aggregate(self, cmd: host_aggregates.CreateHostAggregate, actor: Actor) -> Receipt:
        return creating(
            f"Aggregate {cmd.name}", lambda: host_aggregates.create_aggregate(cmd, self.app, actor)
        )

    def change_aggregate(self, aggregate_id: str, change: dict[str, Any], actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: host_aggregates.change_aggregate(aggregate_id, change, self.app, actor)
        )

    def delete_aggregate(self, aggregate_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(
            lambda: host_aggregates.delete_aggregate(aggregate_id, self.app, actor)
        )

    def register_host(self, cmd: catalog.RegisterHost, actor: Actor) -> Receipt:
        return creating(f"Host {cmd.name}", lambda: catalog.register_host(cmd, self.app, actor))

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
