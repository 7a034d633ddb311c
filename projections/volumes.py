"""The volumes read model: what GET /volumes/detail returns, each volume's
attachments, and the volumes a server has (its volumes_attached)."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from domain.volume import Volume
from domain.volume_attach import Attaching, settled_status
from domain.volume_details import VolumeDetails
from domain.volume_upload import Uploading
from domain.volume_values import AttachStatus, VolumeStatus
from projections.view import ProjectionView, topics_of

_SET_STATUS = "UPDATE volumes SET status=%s, updated_at=%s WHERE id=%s"


class VolumesView(ProjectionView):
    """One row per volume (deleted ones kept, flagged) and one per attachment."""

    name = "volumes"
    topics = topics_of(
        Volume.Requested,
        Volume.Downloading,
        Volume.Provisioned,
        Volume.Failed,
        Volume.DeleteRequested,
        Volume.Deleted,
        Volume.DeleteFailed,
        Volume.ExtendRequested,
        Volume.Extended,
        Volume.ExtendFailed,
        VolumeDetails.Updated,
        VolumeDetails.MetadataChanged,
        VolumeDetails.BootableSet,
        VolumeDetails.ReadonlySet,
        Volume.Reserved,
        Volume.Unreserved,
        Volume.StatusReset,
        Volume.SnapshotTaken,
        Volume.SnapshotForgotten,
        Attaching.AttachRequested,
        Attaching.AttachmentPlaced,
        Attaching.AccessGranted,
        Attaching.Attached,
        Attaching.AttachFailed,
        Attaching.DetachRequested,
        Attaching.Unplugged,
        Attaching.Detached,
        Attaching.DetachFailed,
        Uploading.UploadRequested,
        Uploading.Uploaded,
        Uploading.UploadFailed,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS volumes (
            id uuid PRIMARY KEY, project_id text NOT NULL, user_id text NOT NULL,
            name text NOT NULL, description text NOT NULL, size integer NOT NULL,
            status text NOT NULL, availability_zone text NOT NULL,
            volume_type_id text NOT NULL, volume_type_name text NOT NULL,
            multiattach boolean NOT NULL, bootable boolean NOT NULL,
            readonly boolean NOT NULL DEFAULT false, readonly_set boolean NOT NULL DEFAULT false,
            held boolean NOT NULL DEFAULT false,
            source_kind text NOT NULL, source_id text NOT NULL,
            metadata jsonb NOT NULL, image_metadata jsonb NOT NULL,
            host text NOT NULL DEFAULT '', fault text NOT NULL DEFAULT '',
            snapshots integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            deleted boolean NOT NULL DEFAULT false, deleted_at timestamptz)""",
        "CREATE INDEX IF NOT EXISTS volumes_by_project "
        "ON volumes (project_id, created_at DESC, id) WHERE NOT deleted",
        """CREATE TABLE IF NOT EXISTS volume_attachments (
            attachment_id uuid PRIMARY KEY, volume_id uuid, server_id uuid,
            host text NOT NULL DEFAULT '', device text NOT NULL DEFAULT '',
            status text NOT NULL DEFAULT 'attaching', access boolean NOT NULL DEFAULT false,
            attached_at timestamptz,
            unplugged boolean NOT NULL DEFAULT false, created_at timestamptz NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS volume_attachments_by_volume ON volume_attachments (volume_id)",
        "CREATE INDEX IF NOT EXISTS volume_attachments_by_server ON volume_attachments (server_id)",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Volume.Requested, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO volumes (id, project_id, user_id, name, description, size, status,"
            " availability_zone, volume_type_id, volume_type_name, multiattach, bootable,"
            " source_kind, source_id, metadata, image_metadata, created_at, updated_at)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                e.originator_id,
                e.project_id,
                e.user_id,
                e.name,
                e.description,
                e.size,
                VolumeStatus.CREATING.value,
                e.availability_zone,
                e.volume_type_id,
                e.volume_type_name,
                e.multiattach,
                e.bootable,
                e.source_kind,
                e.source_id,
                Jsonb(e.metadata),
                Jsonb(e.image_metadata),
                e.timestamp,
                e.timestamp,
            ),
        )

    @apply.register
    def _(self, e: Volume.Downloading, cur: Cursor[DictRow]) -> None:
        cur.execute(_SET_STATUS, (VolumeStatus.DOWNLOADING.value, e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: Volume.Provisioned, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE volumes SET host=%s WHERE id=%s", (e.host, e.originator_id))
        cur.execute(
            "UPDATE volume_attachments SET status=%s WHERE volume_id=%s AND status=%s",
            (AttachStatus.ATTACHING.value, e.originator_id, AttachStatus.RESERVED.value),
        )
        self._settle(cur, e, VolumeStatus.AVAILABLE)

    @apply.register
    def _(self, e: Volume.Failed, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volumes SET status=%s, fault=%s, updated_at=%s WHERE id=%s",
            (VolumeStatus.ERROR.value, e.message, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Volume.DeleteRequested, cur: Cursor[DictRow]) -> None:
        cur.execute(_SET_STATUS, (VolumeStatus.DELETING.value, e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: Volume.Deleted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volumes SET deleted=true, deleted_at=%s, updated_at=%s WHERE id=%s",
            (e.timestamp, e.timestamp, e.originator_id),
        )
        cur.execute("DELETE FROM volume_attachments WHERE volume_id=%s", (e.originator_id,))

    @apply.register
    def _(self, e: Volume.DeleteFailed, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volumes SET status=%s, fault=%s, updated_at=%s WHERE id=%s",
            (VolumeStatus.ERROR_DELETING.value, e.message, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: Volume.ExtendRequested, cur: Cursor[DictRow]) -> None:
        cur.execute(_SET_STATUS, (VolumeStatus.EXTENDING.value, e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: Volume.Extended, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE volumes SET size=%s WHERE id=%s", (e.size, e.originator_id))
        self._settle(cur, e, VolumeStatus.AVAILABLE)

    @apply.register
    def _(self, e: Volume.ExtendFailed, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volumes SET status=%s, fault=%s, updated_at=%s WHERE id=%s",
            (VolumeStatus.ERROR_EXTENDING.value, e.message, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: VolumeDetails.Updated, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volumes SET name=%s, description=%s, updated_at=%s WHERE id=%s",
            (e.name, e.description, e.timestamp, e.originator_id),
        )

    @apply.register
    def _(self, e: VolumeDetails.MetadataChanged, cur: Cursor[DictRow]) -> None:
        self._set(cur, e, "metadata", Jsonb(e.metadata))

    @apply.register
    def _(self, e: VolumeDetails.BootableSet, cur: Cursor[DictRow]) -> None:
        self._set(cur, e, "bootable", e.bootable)

    @apply.register
    def _(self, e: VolumeDetails.ReadonlySet, cur: Cursor[DictRow]) -> None:
        # Cinder shows the flag, once set, in the volume's metadata.
        cur.execute("UPDATE volumes SET readonly_set=true WHERE id=%s", (e.originator_id,))
        self._set(cur, e, "readonly", e.readonly)

    @apply.register
    def _(self, e: Volume.Reserved, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE volumes SET held=true WHERE id=%s", (e.originator_id,))
        cur.execute(_SET_STATUS, (VolumeStatus.ATTACHING.value, e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: Volume.Unreserved, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE volumes SET held=false WHERE id=%s", (e.originator_id,))
        self._settle(cur, e)

    @apply.register
    def _(self, e: Volume.StatusReset, cur: Cursor[DictRow]) -> None:
        cur.execute(_SET_STATUS, (e.status, e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: Volume.SnapshotTaken, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE volumes SET snapshots = snapshots + 1 WHERE id=%s", (e.originator_id,))

    @apply.register
    def _(self, e: Volume.SnapshotForgotten, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE volumes SET snapshots = snapshots - 1 WHERE id=%s", (e.originator_id,))

    @apply.register
    def _(self, e: Uploading.UploadRequested, cur: Cursor[DictRow]) -> None:
        cur.execute(_SET_STATUS, (VolumeStatus.UPLOADING.value, e.timestamp, e.originator_id))

    @apply.register
    def _(self, e: Uploading.Uploaded, cur: Cursor[DictRow]) -> None:
        self._settle(cur, e, VolumeStatus.AVAILABLE)

    @apply.register
    def _(self, e: Uploading.UploadFailed, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE volumes SET fault=%s WHERE id=%s", (e.message, e.originator_id))
        self._settle(cur, e, VolumeStatus.AVAILABLE)

    # Attachments ---------------------------------------------------------------

    @apply.register
    def _(self, e: Attaching.AttachRequested, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE volumes SET held=false WHERE id=%s", (e.originator_id,))
        cur.execute(
            "INSERT INTO volume_attachments (attachment_id, volume_id, server_id, host, device,"
            " status, created_at) VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (attachment_id)"
            " DO UPDATE SET volume_id=EXCLUDED.volume_id, server_id=EXCLUDED.server_id,"
            " host=EXCLUDED.host, device=EXCLUDED.device, status=EXCLUDED.status",
            (
                e.attachment_id,
                e.originator_id,
                e.server_id,
                e.host,
                e.device,
                self._opening_status(cur, e),
                e.timestamp,
            ),
        )
        self._settle(cur, e)

    @staticmethod
    def _opening_status(cur: Cursor[DictRow], e: Attaching.AttachRequested) -> str:
        """Reserved while the volume is still being made, else attaching (as the aggregate)."""
        cur.execute("SELECT status FROM volumes WHERE id=%s", (e.originator_id,))
        row = cur.fetchone()
        making = row is not None and row["status"] in (
            VolumeStatus.CREATING,
            VolumeStatus.DOWNLOADING,
        )
        return (AttachStatus.RESERVED if making else AttachStatus.ATTACHING).value

    @apply.register
    def _(self, e: Attaching.AttachmentPlaced, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volume_attachments SET host=%s WHERE attachment_id=%s",
            (e.host, e.attachment_id),
        )

    @apply.register
    def _(self, e: Attaching.AccessGranted, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volume_attachments SET access=true WHERE attachment_id=%s", (e.attachment_id,)
        )

    @apply.register
    def _(self, e: Attaching.Attached, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "UPDATE volume_attachments SET status=%s, attached_at=%s WHERE attachment_id=%s",
            (AttachStatus.ATTACHED.value, e.attached_at, e.attachment_id),
        )
        self._settle(cur, e)

    @apply.register
    def _(self, e: Attaching.AttachFailed, cur: Cursor[DictRow]) -> None:
        self._drop(cur, e, e.attachment_id)

    @apply.register
    def _(self, e: Attaching.DetachRequested, cur: Cursor[DictRow]) -> None:
        self._attachment_status(cur, e, e.attachment_id, AttachStatus.DETACHING)

    @apply.register
    def _(self, e: Attaching.Unplugged, cur: Cursor[DictRow]) -> None:
        # Not shown (the volume is detaching until its ACL goes); the volume
        # host's restore and reconcile leave the attachment's ACL entry out.
        cur.execute(
            "UPDATE volume_attachments SET unplugged=true WHERE attachment_id=%s",
            (e.attachment_id,),
        )

    @apply.register
    def _(self, e: Attaching.Detached, cur: Cursor[DictRow]) -> None:
        self._drop(cur, e, e.attachment_id)

    @apply.register
    def _(self, e: Attaching.DetachFailed, cur: Cursor[DictRow]) -> None:
        self._attachment_status(cur, e, e.attachment_id, AttachStatus.ATTACHED)

    def _attachment_status(
        self, cur: Cursor[DictRow], e: Any, attachment_id: str, status: AttachStatus
    ) -> None:
        cur.execute(
            "UPDATE volume_attachments SET status=%s WHERE attachment_id=%s",
            (status.value, attachment_id),
        )
        self._settle(cur, e)

    def _drop(self, cur: Cursor[DictRow], e: Any, attachment_id: str) -> None:
        cur.execute("DELETE FROM volume_attachments WHERE attachment_id=%s", (attachment_id,))
        self._settle(cur, e)

    @staticmethod
    def _set(cur: Cursor[DictRow], e: Any, column: str, value: Any) -> None:
        cur.execute(
            f"UPDATE volumes SET {column}=%s, updated_at=%s WHERE id=%s",
            (value, e.timestamp, e.originator_id),
        )

    @staticmethod
    def _settle(cur: Cursor[DictRow], e: Any, base: VolumeStatus | None = None) -> None:
        """The volume's status from its attachments, decided as the aggregate
        decides it (``base``: the status it returns to, e.g. after being made)."""
        cur.execute("SELECT status, held FROM volumes WHERE id=%s", (e.originator_id,))
        row = cur.fetchone()
        if row is None:
            return
        cur.execute("SELECT status FROM volume_attachments WHERE volume_id=%s", (e.originator_id,))
        states = [r["status"] for r in cur.fetchall()]
        status = settled_status(base or row["status"], states, row["held"])
        cur.execute(_SET_STATUS, (status.value, e.timestamp, e.originator_id))
