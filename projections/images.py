"""The images read model: what GET /image/v2/images returns."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.image import Image
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class ImagesView(ProjectionView):
    """One row per image; deleted images are flagged, not removed."""

    name = "images"
    topics = topics_of(
        Image.Created, Image.UploadStarted, Image.UploadAborted, Image.Uploaded, Image.Deleted
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS images (
            id uuid PRIMARY KEY, owner text NOT NULL, name text NOT NULL,
            status text NOT NULL, visibility text NOT NULL,
            disk_format text NOT NULL, container_format text NOT NULL,
            min_disk int NOT NULL, min_ram int NOT NULL, properties jsonb NOT NULL,
            checksum text, hash_algo text, hash_value text, size bigint,
            created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)""",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Image.Created, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO images (id, owner, name, status, visibility, disk_format, "
            "container_format, min_disk, min_ram, properties, created_at, updated_at) "
            "VALUES (%s,%s,%s,'queued',%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                e.originator_id,
                e.owner,
                e.name,
                e.visibility,
                e.disk_format,
                e.container_format,
                e.min_disk,
                e.min_ram,
                Jsonb(e.properties),
                e.timestamp,
                e.timestamp,
            ),
        )

    @apply.register
    def _(self, e: Image.UploadStarted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE images SET status='saving', updated_at=%s WHERE id=%s",
            (e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Image.UploadAborted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE images SET status='queued', updated_at=%s WHERE id=%s",
            (e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Image.Uploaded, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE images SET status='active', checksum=%s, hash_algo=%s, hash_value=%s, "
            "size=%s, updated_at=%s WHERE id=%s",
            (
                e.checksum,
                e.hash_algo,
                e.hash_value,
                e.size,
                e.timestamp,
                e.originator_id,
            ),
        )

    @apply.register
    def _(self, e: Image.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE images SET status='deleted', updated_at=%s WHERE id=%s",
            (e.timestamp, e.originator_id),
        )

    def get(self, image_id: UUID, project_id: str, is_admin: bool) -> DictRow | None:
        return self.fetch_one(image_by_id(image_id, project_id, is_admin))

    def list_images(
        self, project_id: str, is_admin: bool, name: str | None, limit: int
    ) -> list[DictRow]:
        return self.fetch_all(image_list(project_id, is_admin, name, limit))


_VISIBLE = "status <> 'deleted' AND (%s OR owner=%s OR visibility IN ('public','community'))"


def image_by_id(image_id: UUID, project_id: str, is_admin: bool) -> Query:
    """The image if the caller may see it."""
    return Query(
        f"SELECT * FROM images WHERE id=%s AND {_VISIBLE}", (image_id, is_admin, project_id)
    )


def image_list(project_id: str, is_admin: bool, name: str | None, limit: int) -> Query:
    sql = f"SELECT * FROM images WHERE {_VISIBLE}"
    params: list[Any] = [is_admin, project_id]
    if name is not None:
        sql += " AND name=%s"
        params.append(name)
    return Query(sql + " ORDER BY created_at DESC, id LIMIT %s", [*params, limit])


def images_owned(project_id: str) -> Query:
    """How many images a project still owns (a project is deleted without)."""
    return Query(
        "SELECT count(*) AS images FROM images WHERE owner = %s AND status <> 'deleted'",
        (project_id,),
    )
