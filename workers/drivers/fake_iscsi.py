"""In-memory IscsiTarget for tests of jobs that export volumes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from workers.drivers.errors import DriverError, PermanentDriverError
from workers.drivers.iscsi import (
    Export,
    ExportInUse,
    Portal,
    TargetAddress,
    canonical_volume_id,
    target_iqn,
    validate_chap,
    validate_initiator,
)

FAKE_PORTAL = Portal("127.0.0.1", 3260)


@dataclass
class _Target:
    backing_file: str
    chap_user: str
    chap_secret: str = field(repr=False)
    initiators: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)


class FakeIscsiTarget:
    """IscsiTarget keeping targets in a dict; can be told to fail the next
    call, and to pretend an initiator logged in (``open_session``)."""

    def __init__(self, portal: Portal = FAKE_PORTAL) -> None:
        self._portal = portal
        self._targets: dict[str, _Target] = {}
        self._next_error: DriverError | None = None

    @property
    def portal(self) -> Portal:
        return self._portal

    def fail_next(self, error: DriverError) -> None:
        """Make the next call of any IscsiTarget method raise `error`, once."""
        self._next_error = error

    def open_session(self, volume_id: str, initiator_iqn: str, chap_secret: str) -> bool:
        """Log `initiator_iqn` in as a real initiator would: only if the ACL
        names it and the secret is the volume's. Whether it got in."""
        found = self._targets.get(canonical_volume_id(volume_id))
        if found is None or initiator_iqn not in found.initiators:
            return False
        if chap_secret != found.chap_secret:
            return False
        found.sessions.add(initiator_iqn)
        return True

    def close_session(self, volume_id: str, initiator_iqn: str) -> None:
        found = self._targets.get(canonical_volume_id(volume_id))
        if found is not None:
            found.sessions.discard(initiator_iqn)

    def ensure_export(
        self, volume_id: str, backing_file: str, chap_user: str, chap_secret: str
    ) -> TargetAddress:
        self._raise_if_told()
        key = canonical_volume_id(volume_id)
        validate_chap(chap_user, chap_secret)
        if not os.path.isfile(backing_file):
            raise PermanentDriverError(f"no backing file {backing_file} for volume {key}")
        found = self._targets.get(key)
        if found is None:
            self._targets[key] = _Target(backing_file, chap_user, chap_secret)
        elif found.backing_file != backing_file:
            raise PermanentDriverError(f"volume {key} is exported from {found.backing_file}")
        return TargetAddress(self._portal, target_iqn(key))

    def ensure_acl(self, volume_id: str, initiator_iqn: str) -> None:
        self._raise_if_told()
        key = canonical_volume_id(volume_id)
        validate_initiator(initiator_iqn)
        found = self._targets.get(key)
        if found is None:
            raise PermanentDriverError(f"volume {key} has no export")
        found.initiators.add(initiator_iqn)

    def remove_acl(self, volume_id: str, initiator_iqn: str) -> None:
        self._raise_if_told()
        key = canonical_volume_id(volume_id)
        validate_initiator(initiator_iqn)
        found = self._targets.get(key)
        if found is not None:
            found.initiators.discard(initiator_iqn)

    def remove_export(self, volume_id: str) -> None:
        self._raise_if_told()
        key = canonical_volume_id(volume_id)
        found = self._targets.get(key)
        if found is None:
            return
        if found.sessions:
            raise ExportInUse(key, found.sessions)
        del self._targets[key]

    def list_exports(self) -> list[Export]:
        self._raise_if_told()
        return [
            Export(
                volume_id=key,
                iqn=target_iqn(key),
                backing_file=t.backing_file,
                chap_users=(t.chap_user,),
                initiators=tuple(sorted(t.initiators)),
                sessions=tuple(sorted(t.sessions)),
            )
            for key, t in sorted(self._targets.items())
        ]

    def _raise_if_told(self) -> None:
        error, self._next_error = self._next_error, None
        if error is not None:
            raise error
