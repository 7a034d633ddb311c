"""Composition of the projector process: one follower thread per read model."""

from __future__ import annotations

from typing import Any, TypeVar

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment

from commands.app import CloudApp
from projections.follower import LogRunner
from projections.group import ViewGroup
from projections.registry import VIEW_CLASSES
from projections.view import ProjectionView

V = TypeVar("V", bound=ProjectionView)


def build_view(cls: type[V], es_env: dict[str, str]) -> V:
    """A view with its own small connection pool (tables created if asked)."""
    env = Environment(cls.name, {**es_env, "POSTGRES_POOL_SIZE": "2"})
    factory: Any = InfrastructureFactory.construct(env)
    view = factory.tracking_recorder(cls)
    assert isinstance(view, cls)
    return view


def postgres_recorder(app: CloudApp) -> PostgresApplicationRecorder:
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder), "needs the PostgreSQL store"
    return recorder


def shared_views(es_env: dict[str, str], pool_size: int) -> list[ProjectionView]:
    """Every read model on one datastore (one connection pool)."""
    env = Environment("views", {**es_env, "POSTGRES_POOL_SIZE": str(pool_size)})
    factory: Any = InfrastructureFactory.construct(env)
    views = [cls(factory.datastore) for cls in VIEW_CLASSES]
    if factory.env_create_table():
        for view in views:
            view.create_table()
    return views


def build_group(es_env: dict[str, str], pool_size: int = 2) -> ViewGroup:
    """Every read model, for the projector's single reader."""
    views = shared_views(es_env, pool_size)
    return ViewGroup(views[0].datastore, views)


class Projector(LogRunner):
    """Keeps every read model up to date with the event log: one LISTEN
    connection, one reader, one transaction per batch for all views."""

    def __init__(self, app: CloudApp, group: ViewGroup, conninfo: str) -> None:
        super().__init__(
            "projector",
            postgres_recorder(app),
            app.mapper,
            conninfo,
            group.apply_batch,
            group.position,
            group.topics,
        )
