"""The compute hosts' and host aggregates' commands of Services, each
retried on a concurrent write."""

from __future__ import annotations

from typing import Any

from commands import catalog, host_aggregates
from commands.app import CloudApp
from commands.identity_services import creating
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.values import Actor


class HostCommands:
    app: CloudApp

    def register_host(self, cmd: catalog.RegisterHost, actor: Actor) -> Receipt:
        return creating(f"Host {cmd.name}", lambda: catalog.register_host(cmd, self.app, actor))

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


class HostAggregateCommands:
    app: CloudApp

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
