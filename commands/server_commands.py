"""The servers' commands of Services: boots (combined per project), actions,
details, snapshots and resizes, each retried on a concurrent write."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from commands import server_actions, server_details, server_rebuild, server_resize, servers
from commands.app import CloudApp
from commands.combining import Combiner
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.property_protections import PropertyProtections
from domain.quota import Quota
from domain.values import Actor

BootRequest = tuple[servers.BootServer, Actor]


class ServerCommands:
    app: CloudApp
    # Boots of one project in this process take turns (commands/combining.py).
    _boots: Combiner[BootRequest, Receipt]

    def boot_server(self, cmd: servers.BootServer, actor: Actor) -> Receipt:
        return self._boots.run(Quota.create_id(actor.project_id), (cmd, actor))

    def boot_servers(self, requests: Sequence[BootRequest]) -> list[Receipt | BaseException]:
        """Boots of one project in one save (retried whole on a conflict);
        the caller makes sure no other boot of the project runs meanwhile.
        A boot that maps volumes is saved on its own, so that one refused
        part-way through (its second volume in use) leaves nothing behind."""
        if len(requests) > 1 and any(cmd.block_devices for cmd, _ in requests):
            return [outcome for request in requests for outcome in self.boot_servers([request])]
        return list(retry_on_conflict(lambda: servers.boot_servers(requests, self.app)))

    def _boot_all(self, requests: Sequence[BootRequest]) -> list[Receipt | BaseException]:
        return self.boot_servers(requests)

    def server_action(self, action: str, server_id: str, actor: Actor) -> Receipt:
        (outcome,) = self.server_actions([(action, server_id, actor)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def server_actions(
        self, requests: Sequence[server_actions.ActionRequest]
    ) -> list[Receipt | BaseException]:
        """Stops, starts and deletes in one save (retried whole on a conflict)."""
        return list(retry_on_conflict(lambda: server_actions.act_on_servers(requests, self.app)))

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
