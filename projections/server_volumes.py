"""The volumes each server has (Nova's block device mappings): what
os-volume_attachments lists and a server shows as volumes_attached. The
Instance's own view of its InstanceVolumes events (the volume's side is
projections/volumes.py)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.instance import Instance
from domain.instance_volumes import VOLUME_EVENTS, InstanceVolumes
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class ServerVolumesView(ProjectionView):
    """One row per volume a server has or is being given."""

    name = "server_volumes"
    topics = topics_of(*VOLUME_EVENTS, Instance.Deleted)
    ddl = (
        """CREATE TABLE IF NOT EXISTS server_volumes (
            server_id uuid NOT NULL, volume_id uuid NOT NULL, attachment_id uuid NOT NULL,
            device text NOT NULL, delete_on_termination boolean NOT NULL,
            status text NOT NULL, created_at timestamptz NOT NULL,
            PRIMARY KEY (server_id, volume_id))""",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: InstanceVolumes.VolumeAttachRequested, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO server_volumes (server_id, volume_id, attachment_id, device,"
            " delete_on_termination, status, created_at) VALUES (%s,%s,%s,%s,%s,'attaching',%s)"
            " ON CONFLICT (server_id, volume_id) DO UPDATE SET"
            " attachment_id=EXCLUDED.attachment_id, device=EXCLUDED.device,"
            " delete_on_termination=EXCLUDED.delete_on_termination, status='attaching'",
            (
                e.originator_id,
                e.volume_id,
                e.attachment_id,
                e.device,
                e.delete_on_termination,
                e.timestamp,
            ),
        )

    @apply.register
    def _(self, e: InstanceVolumes.VolumeAttached, cur: Cursor[DictRow]) -> None:
        self._status(cur, e, "attached")

    @apply.register
    def _(self, e: InstanceVolumes.VolumeDetachRequested, cur: Cursor[DictRow]) -> None:
        self._status(cur, e, "detaching")

    @apply.register
    def _(self, e: InstanceVolumes.VolumeDetachFailed, cur: Cursor[DictRow]) -> None:
        self._status(cur, e, "attached")

    @apply.register
    def _(self, e: InstanceVolumes.VolumeAttachFailed, cur: Cursor[DictRow]) -> None:
        self._drop(cur, e)

    @apply.register
    def _(self, e: InstanceVolumes.VolumeDetached, cur: Cursor[DictRow]) -> None:
        self._drop(cur, e)

    @apply.register
    def _(self, e: Instance.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute("DELETE FROM server_volumes WHERE server_id=%s", (e.originator_id,))

    @staticmethod
    def _status(cur: Cursor[DictRow], e: Any, status: str) -> None:
        cur.execute(
            "UPDATE server_volumes SET status=%s WHERE server_id=%s AND volume_id=%s",
            (status, e.originator_id, e.volume_id),
        )

    @staticmethod
    def _drop(cur: Cursor[DictRow], e: Any) -> None:
        cur.execute(
            "DELETE FROM server_volumes WHERE server_id=%s AND volume_id=%s",
            (e.originator_id, e.volume_id),
        )


_COLUMNS = (
    "server_id::text AS server_id, volume_id::text AS volume_id, device,"
    " delete_on_termination, attachment_id::text AS attachment_id, status"
)


def volumes_of_servers(server_ids: Sequence[str]) -> Query:
    """Every volume each server has or is being given, in the order asked."""
    return Query(
        f"SELECT {_COLUMNS} FROM server_volumes WHERE server_id = ANY(%s::uuid[])"
        " ORDER BY created_at, device",
        (list(server_ids),),
    )


def volume_of_server(server_id: str, volume_id: UUID) -> Query:
    return Query(
        f"SELECT {_COLUMNS} FROM server_volumes WHERE server_id = %s::uuid AND volume_id = %s",
        (server_id, volume_id),
    )
