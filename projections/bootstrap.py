"""Composition of the projector process: one follower thread per read model."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment

from commands.app import CloudApp
from projections.follower import LogFollower, LogListener
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


def build_views(es_env: dict[str, str]) -> dict[str, ProjectionView]:
    return {cls.name: build_view(cls, es_env) for cls in VIEW_CLASSES}


def postgres_recorder(app: CloudApp) -> PostgresApplicationRecorder:
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder), "needs the PostgreSQL store"
    return recorder


def build_group(es_env: dict[str, str], pool_size: int = 2) -> ViewGroup:
    """Every read model on one datastore, for the projector's single reader."""
    env = Environment("projector", {**es_env, "POSTGRES_POOL_SIZE": str(pool_size)})
    factory: Any = InfrastructureFactory.construct(env)
    datastore = factory.datastore
    views = [cls(datastore) for cls in VIEW_CLASSES]
    if factory.env_create_table():
        for view in views:
            view.create_table()
    return ViewGroup(datastore, views)


class Projector:
    """Keeps every read model up to date with the event log: one LISTEN
    connection, one reader, one transaction per batch for all views."""

    def __init__(self, app: CloudApp, group: ViewGroup, conninfo: str) -> None:
        recorder = postgres_recorder(app)
        self.listener = LogListener(conninfo, recorder.channel_name)
        self.follower = LogFollower(
            name="projector",
            recorder=recorder,
            mapper=app.mapper,
            handle_batch=group.apply_batch,
            start_after=group.position(),
            read_position=group.position,
            waker=self.listener.waker(),
            topics=group.topics,
        )

    def run(self, stop: threading.Event) -> None:
        self.listener.start()
        thread = threading.Thread(target=self.follower.run, args=(stop,), name="projector")
        thread.start()
        stop.wait()
        self.listener.stop()  # wakes the follower so it sees the stop flag
        thread.join()

    def catch_up(self) -> None:
        self.follower.catch_up()
