"""Server groups of a project: create and delete (members join at boot)."""

from __future__ import annotations

from commands.app import CloudApp
from commands.loading import load, parse_uuid
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.errors import NotFound
from domain.server_group import ServerGroup
from domain.values import Actor


def create_group(name: str, policy: str, app: CloudApp, actor: Actor) -> Receipt:
    ServerGroup.validate(name, policy)
    group = ServerGroup(
        project_id=actor.project_id, user_id=actor.user_id, name=name, policy=policy, actor=actor
    )
    return Receipt.of(group.id, app.save(group))


def delete_group(group_id: str, app: CloudApp, actor: Actor) -> Receipt:
    label = f"Server group {group_id}"
    group = load(app, ServerGroup, parse_uuid(group_id, label), label)
    if group.deleted or not (actor.is_admin or group.project_id == actor.project_id):
        raise NotFound(f"Instance group {group_id} could not be found.")
    group.delete(actor)
    return Receipt.of(group.id, app.save(group))


class ServerGroupCommands:
    """The server groups' commands of Services."""

    app: CloudApp

    def create_group(self, name: str, policy: str, actor: Actor) -> Receipt:
        return create_group(name, policy, self.app, actor)

    def delete_group(self, group_id: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: delete_group(group_id, self.app, actor))
