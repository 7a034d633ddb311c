"""Create every table once (events, snapshots, read models, relay), before the
long-running processes start with CREATE_TABLE=n (concurrent DDL can fail)."""

from __future__ import annotations

from commands.bootstrap import build_app, eventsourcing_env
from commands.ledger_store import LedgerRecorder
from commands.lockout import PostgresLoginAttempts
from commands.rejections import PostgresRejections
from ops import audit_chain
from projections.bootstrap import build_view
from projections.registry import VIEW_CLASSES
from projections.view import ProjectionView
from workers.dispatch import Relay


def create_schema(database_url: str) -> None:
    app = build_app(database_url, pool_size=1, create_table=True)
    recorder = app.recorder
    assert isinstance(recorder, LedgerRecorder)
    PostgresLoginAttempts(recorder.datastore).create_table()
    PostgresRejections(recorder.datastore).create_table()
    with recorder.datastore.get_connection() as conn:
        # A ledger older than its chain gets linked from its first event.
        audit_chain.backfill(
            conn, audit_chain.Tables(recorder.datastore.schema, recorder.events_table_name)
        )
    app.close()
    env = eventsourcing_env(database_url, pool_size=1, create_table=True)
    views: list[type[ProjectionView]] = [*VIEW_CLASSES, Relay]
    for cls in views:
        build_view(cls, env).datastore.close()
