"""iSCSI target driver: the port the volume worker uses to serve volumes.

One target per volume, named from the volume id alone (never from tenant
text), with one LUN (1) backed by the volume's file, one CHAP account, and an
ACL of initiator names: one per attachment, so a host can only log in to the
volumes attached to its guests, and only with the volume's secret."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from workers.drivers.errors import PermanentDriverError, TransientDriverError

IQN_PREFIX = "iqn.2026-12.org.cloudledger"
VOLUME_LUN = 1
# CHAP names and secrets reach tgtadm as "user=..,password=.." and QEMU as
# option values: no comma, equals sign, space or percent sign may get in.
_CHAP_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CHAP_SECRET = re.compile(r"[A-Za-z0-9_.+/-]{12,128}")
_IQN = re.compile(r"iqn\.\d{4}-\d{2}\.[a-z0-9][a-z0-9.-]*(:[A-Za-z0-9][A-Za-z0-9.:_-]*)?")


@dataclass(frozen=True)
class Portal:
    """Where a target daemon listens (an address of the storage network)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TargetAddress:
    """What an initiator needs to find a volume's LUN (no credentials)."""

    portal: Portal
    iqn: str
    lun: int = VOLUME_LUN


@dataclass(frozen=True)
class Export:
    """One volume's target as the daemon has it now.

    ``backing_file`` is None for a target whose LUN is missing (an export cut
    short); ``initiators`` is its ACL and ``sessions`` the initiators logged in
    now, each sorted."""

    volume_id: str
    iqn: str
    backing_file: str | None
    chap_users: tuple[str, ...]
    initiators: tuple[str, ...]
    sessions: tuple[str, ...]


@dataclass(frozen=True)
class WantedExport:
    """A volume's export as the ledger wants it: what a restarted daemon is
    given back. The secret is never printed (repr) or compared in logs."""

    volume_id: str
    backing_file: str
    chap_user: str
    chap_secret: str = field(repr=False)
    initiators: tuple[str, ...] = ()


class ExportInUse(TransientDriverError):
    """The target still has initiators logged in (tgtd refuses to delete it,
    rc 22); the export is left whole. Detach first, then try again."""

    def __init__(self, volume_id: str, sessions: Iterable[str]) -> None:
        self.sessions = tuple(sorted(sessions))
        super().__init__(
            f"volume {volume_id} is still in use by {', '.join(self.sessions) or 'an initiator'}"
        )


class IscsiTarget(Protocol):
    """Exports volumes over iSCSI from one target daemon.

    Every method is idempotent and converges on re-run, also after a crash
    part-way through. Ids must be uuids, CHAP names 1-64 characters of
    ``[A-Za-z0-9._-]``, secrets 12-128 characters of ``[A-Za-z0-9_.+/-]``,
    initiator names IQNs: anything else raises PermanentDriverError before
    the daemon is touched. A daemon that does not answer raises
    TransientDriverError; a refusal that retrying will not fix raises
    PermanentDriverError. Secrets are never logged or put in an error.
    """

    @property
    def portal(self) -> Portal:
        """Where initiators reach this daemon's targets."""
        ...

    def ensure_export(
        self, volume_id: str, backing_file: str, chap_user: str, chap_secret: str
    ) -> TargetAddress:
        """Make the volume's target with LUN 1 on `backing_file` and the CHAP
        account bound to it; return its address. No initiator may log in
        until ensure_acl names it.

        An existing account keeps the secret it was made with (remove_export
        then ensure_export to change it). Raises PermanentDriverError if the
        file does not exist, or the target exists on another file.
        """
        ...

    def ensure_acl(self, volume_id: str, initiator_iqn: str) -> None:
        """Let the initiator named `initiator_iqn` log in (with the volume's
        CHAP secret). Raises PermanentDriverError if the volume has no export,
        or its export has no CHAP account (an ACL would then open it without
        a secret)."""
        ...

    def remove_acl(self, volume_id: str, initiator_iqn: str) -> None:
        """Stop letting the initiator log in; a session it has open goes on
        until it logs out. No export or no such entry is fine."""
        ...

    def remove_export(self, volume_id: str) -> None:
        """Delete the volume's target (its LUN and ACL with it), then its CHAP
        account. No export is fine. The backing file is not touched.

        Raises ExportInUse, leaving the export whole, while an initiator is
        logged in: the caller detaches the volume first.
        """
        ...

    def list_exports(self) -> list[Export]:
        """Every volume target of this daemon, sorted by volume id (targets
        not named by this driver are left out): for reconcile."""
        ...


def canonical_volume_id(value: str) -> str:
    """``value`` as a lower-case hyphenated uuid; PermanentDriverError if it
    is not one (it becomes part of a target name)."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise PermanentDriverError(f"not a volume id: {value!r}") from None


def target_iqn(volume_id: str) -> str:
    """The target name of a volume: derived from its id only."""
    return f"{IQN_PREFIX}:volume-{canonical_volume_id(volume_id)}"


def volume_id_of(iqn: str) -> str | None:
    """The volume a target name of ours belongs to; None for any other name."""
    prefix = f"{IQN_PREFIX}:volume-"
    if not iqn.startswith(prefix):
        return None
    try:
        return str(uuid.UUID(iqn.removeprefix(prefix)))
    except ValueError:
        return None


def attachment_initiator_iqn(attachment_id: str) -> str:
    """The initiator name of one attachment, so each gets an ACL entry of its own."""
    try:
        canonical = str(uuid.UUID(attachment_id))
    except (ValueError, TypeError, AttributeError):
        raise PermanentDriverError(f"not an attachment id: {attachment_id!r}") from None
    return f"{IQN_PREFIX}:attachment-{canonical}"


def validate_chap(user: str, secret: str) -> None:
    """PermanentDriverError unless both are safe on a tgtadm or QEMU option line."""
    if not _CHAP_USER.fullmatch(user):
        raise PermanentDriverError(f"invalid CHAP user name: {user!r}")
    if not _CHAP_SECRET.fullmatch(secret):
        # Never echo the secret, not even a malformed one.
        raise PermanentDriverError("invalid CHAP secret (12-128 of A-Z a-z 0-9 _ . + / -)")


def validate_initiator(initiator_iqn: str) -> str:
    if not _IQN.fullmatch(initiator_iqn) or len(initiator_iqn) > 223:
        raise PermanentDriverError(f"invalid initiator name: {initiator_iqn!r}")
    return initiator_iqn


def restore_exports(target: IscsiTarget, wanted: Iterable[WantedExport]) -> int:
    """Give a (restarted) daemon back every export and ACL entry the caller
    lists; return how many exports. Idempotent like the methods it calls."""
    count = 0
    for export in wanted:
        target.ensure_export(
            export.volume_id, export.backing_file, export.chap_user, export.chap_secret
        )
        for initiator in export.initiators:
            target.ensure_acl(export.volume_id, initiator)
        count += 1
    return count
