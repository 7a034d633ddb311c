"""The flavors' and quotas' commands of Services, each retried on a
concurrent write."""

from __future__ import annotations

from collections.abc import Callable

from commands import catalog
from commands.app import CloudApp
from commands.combining import Combiner
from commands.identity_services import creating
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.quota import Quota
from domain.values import Actor


class FlavorCommands:
    app: CloudApp

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


class QuotaCommands:
    app: CloudApp
    # Writes to one project's quota in this process take turns (commands/combining.py).
    _quota_updates: Combiner[Callable[[], Receipt], Receipt]

    def update_quota(self, project_id: str, limits: dict[str, int], actor: Actor) -> Receipt:
        return self._quota_updates.run(
            Quota.create_id(project_id),
            lambda: retry_on_conflict(
                lambda: catalog.update_quota(project_id, limits, self.app, actor)
            ),
        )
