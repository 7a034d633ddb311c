"""Composition of the projector process: one follower thread per read model."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment

from commands.app import CloudApp
from projections.follower import LogFollower, LogListener
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


class Projector:
    """Keeps every read model up to date with the event log."""

    def __init__(self, app: CloudApp, views: dict[str, ProjectionView], conninfo: str) -> None:
        recorder = postgres_recorder(app)
        self.listener = LogListener(conninfo, recorder.channel_name)
        self.followers = [
            LogFollower(
                name=view.name,
                recorder=recorder,
                mapper=app.mapper,
                handle_batch=view.apply_batch,
                start_after=view.position(),
                read_position=view.position,
                waker=self.listener.waker(),
                topics=view.topics,
            )
            for view in views.values()
        ]

    def run(self, stop: threading.Event) -> None:
        self.listener.start()
        threads = [
            threading.Thread(target=f.run, args=(stop,), name=f"projection-{f.name}")
            for f in self.followers
        ]
        for thread in threads:
            thread.start()
        stop.wait()
        self.listener.stop()
        for thread in threads:
            thread.join()

    def catch_up(self) -> None:
        for follower in self.followers:
            follower.catch_up()
