"""The images read model: what GET /image/v2/images returns."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.image import MUTABLE_CORE, Image
from domain.image_import import ImageImport
from domain.image_safety import ImageSafety
from projections.image_listing import ImageListing, image_list
from projections.reader import Query
from projections.view import ProjectionView, topics_of


class ImagesView(ProjectionView):
    """One row per image; deleted images are flagged, not removed."""

    name = "images"
    topics = topics_of(
        Image.Created,
        Image.UploadStarted,
        Image.UploadAborted,
        ImageImport.StagingStarted,
        # Nothing to show, but tracked: a staging's answer waits for its
        # position, and with it for the StagingStarted before it ('uploading').
        ImageImport.Staged,
        ImageImport.ImportStarted,
        ImageImport.ImportFailed,
        Image.Uploaded,
        Image.Deleted,
        Image.Updated,
        Image.Deactivated,
        Image.Reactivated,
        Image.MemberAdded,
        Image.MemberStatusChanged,
        Image.MemberRemoved,
        ImageSafety.Inspected,
        ImageSafety.UploadRefused,
        ImageSafety.FoundUnsafe,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS images (
            id uuid PRIMARY KEY, owner text NOT NULL, name text NOT NULL,
            status text NOT NULL, visibility text NOT NULL,
            disk_format text NOT NULL, container_format text NOT NULL,
            min_disk int NOT NULL, min_ram int NOT NULL, properties jsonb NOT NULL,
            checksum text, hash_algo text, hash_value text, size bigint,
            created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)""",
        "ALTER TABLE images ADD COLUMN IF NOT EXISTS tags jsonb NOT NULL DEFAULT '[]'",
        "ALTER TABLE images ADD COLUMN IF NOT EXISTS protected boolean NOT NULL DEFAULT false",
        "ALTER TABLE images ADD COLUMN IF NOT EXISTS os_hidden boolean NOT NULL DEFAULT false",
        # Glance's virtual_size: what inspecting the bytes found (NULL: unknown).
        "ALTER TABLE images ADD COLUMN IF NOT EXISTS virtual_size bigint",
        """CREATE TABLE IF NOT EXISTS image_members (
            image_id uuid NOT NULL, member_id text NOT NULL, status text NOT NULL,
            created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            PRIMARY KEY (image_id, member_id))""",
        "CREATE INDEX IF NOT EXISTS image_members_member ON image_members (member_id)",
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

    @apply.register
    def _(self, e: Image.Updated, cur: Cursor[DictRow]) -> None:
        # Column names come from the fixed list of core fields, never from input.
        core = {k: v for k, v in e.core.items() if k in MUTABLE_CORE}
        sets = "".join(f"{k}=%s, " for k in core)
        values = [Jsonb(v) if k == "tags" else v for k, v in core.items()]
        cur.execute(
            f"UPDATE images SET {sets}properties=(properties - %s::text[]) || %s, "
            "updated_at=%s WHERE id=%s",
            (*values, e.removed, Jsonb(e.properties), e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Image.Deactivated, cur: Cursor[DictRow]) -> None:
        self._set_status(cur, e, "deactivated")

    @apply.register
    def _(self, e: Image.Reactivated, cur: Cursor[DictRow]) -> None:
        self._set_status(cur, e, "active")

    # Stored as ImageImport.<Event> (domain/image_import.py), not Image.<Event>.
    @apply.register
    def _(self, e: ImageImport.StagingStarted, cur: Cursor[DictRow]) -> None:
        self._set_status(cur, e, "uploading")

    @apply.register
    def _(self, e: ImageImport.ImportStarted, cur: Cursor[DictRow]) -> None:
        self._set_status(cur, e, "importing")

    @apply.register
    def _(self, e: ImageImport.ImportFailed, cur: Cursor[DictRow]) -> None:
        self._set_status(cur, e, "uploading")

    # Stored as ImageSafety.<Event> (domain/image_safety.py).
    @apply.register
    def _(self, e: ImageSafety.Inspected, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE images SET virtual_size=%s, updated_at=%s WHERE id=%s",
            (e.virtual_size, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: ImageSafety.UploadRefused, cur: Cursor[DictRow]) -> None:
        self._set_status(cur, e, "queued")

    @apply.register
    def _(self, e: ImageSafety.FoundUnsafe, cur: Cursor[DictRow]) -> None:
        self._set_status(cur, e, "deactivated")

    @staticmethod
    def _set_status(cur: Cursor[DictRow], e: Aggregate.Event, status: str) -> None:
        cur.execute(
            "UPDATE images SET status=%s, updated_at=%s WHERE id=%s",
            (status, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Image.MemberAdded, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO image_members VALUES (%s,%s,'pending',%s,%s) "
            "ON CONFLICT (image_id, member_id) DO UPDATE SET status='pending', updated_at=%s",
            (e.originator_id, e.member_id, e.timestamp, e.timestamp, e.timestamp),
        )

    @apply.register
    def _(self, e: Image.MemberStatusChanged, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE image_members SET status=%s, updated_at=%s WHERE image_id=%s AND member_id=%s",
            (e.status, e.timestamp, e.originator_id, e.member_id),
        )

    @apply.register
    def _(self, e: Image.MemberRemoved, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "DELETE FROM image_members WHERE image_id=%s AND member_id=%s",
            (e.originator_id, e.member_id),
        )

    def get(self, image_id: UUID, project_id: str, is_admin: bool) -> DictRow | None:
        return self.fetch_one(image_by_id(image_id, project_id, is_admin))

    def list_images(self, listing: ImageListing) -> list[DictRow]:
        return self.fetch_all(image_list(listing))


# A member sees a shared image it was added to, whatever its answer (Glance).
_VISIBLE = (
    "status <> 'deleted' AND (%s OR owner=%s OR visibility IN ('public','community') "
    "OR (visibility='shared' AND EXISTS (SELECT 1 FROM image_members m "
    "WHERE m.image_id=images.id AND m.member_id=%s)))"
)


def image_by_id(image_id: UUID, project_id: str, is_admin: bool) -> Query:
    """The image if the caller may see it."""
    return Query(
        f"SELECT * FROM images WHERE id=%s AND {_VISIBLE}",
        (image_id, is_admin, project_id, project_id),
    )


def image_members(image_id: UUID) -> Query:
    return Query(
        "SELECT * FROM image_members WHERE image_id=%s ORDER BY created_at, member_id", (image_id,)
    )


def image_member(image_id: UUID, member_id: str) -> Query:
    return Query(
        "SELECT * FROM image_members WHERE image_id=%s AND member_id=%s", (image_id, member_id)
    )


def images_owned(project_id: str) -> Query:
    """How many images a project still owns (a project is deleted without)."""
    return Query(
        "SELECT count(*) AS images FROM images WHERE owner = %s AND status <> 'deleted'",
        (project_id,),
    )
