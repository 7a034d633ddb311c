"""Services: every command a user (or the API) can give, as one object
composed of each resource's commands (one class each, in its own module),
every one retried on a concurrent write."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from commands import images
from commands.app import CloudApp
from commands.combining import Combiner
from commands.flavor_commands import FlavorCommands, QuotaCommands
from commands.host_commands import HostAggregateCommands, HostCommands
from commands.identity_services import IdentityCommands
from commands.image_commands import ImageCommands
from commands.image_files import DirectoryImageStore
from commands.image_metadata import ImageMetadataCommands
from commands.keypairs import KeypairCommands
from commands.lockout import Lockout, MemoryLoginAttempts
from commands.ports import ImageStore, PasswordHasher
from commands.receipt import Receipt
from commands.server_commands import BootRequest, ServerCommands
from commands.server_groups import ServerGroupCommands

__all__ = ["BootRequest", "Services"]


def _run_each(updates: Sequence[Callable[[], Receipt]]) -> list[Receipt | BaseException]:
    """Quota updates are rare: take turns, but run each on its own."""
    outcomes: list[Receipt | BaseException] = []
    for update in updates:
        try:
            outcomes.append(update())
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


class Services(
    ServerCommands,
    ServerGroupCommands,
    KeypairCommands,
    FlavorCommands,
    QuotaCommands,
    HostCommands,
    HostAggregateCommands,
    ImageCommands,
    ImageMetadataCommands,
    IdentityCommands,
):
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
        self.image_size_cap = image_size_cap
        # Processes that log users in pass the PostgreSQL-backed one (bootstrap).
        self.lockout = lockout or Lockout(MemoryLoginAttempts())
        self._boots = Combiner(self._boot_all)
        self._quota_updates = Combiner(_run_each)
