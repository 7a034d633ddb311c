"""IscsiTarget on Linux's userspace target, tgt: every change a ``tgtadm``
call on the control port of one ``tgtd`` (ops/tgtd.py starts it), so two
stacks on one machine never touch each other's targets."""

from __future__ import annotations

import os
from collections.abc import Sequence

from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.iscsi import (
    VOLUME_LUN,
    Export,
    ExportInUse,
    Portal,
    TargetAddress,
    canonical_volume_id,
    target_iqn,
    validate_chap,
    validate_initiator,
    volume_id_of,
)
from workers.drivers.runner import CommandFailed, CommandRunner, Completed, describe, mask
from workers.drivers.tgt_show import ShownTarget, parse_accounts, parse_targets

TGTADM_TIMEOUT_S = 10.0
# tgtadm's exit code for "exists already", "does not exist" and "still active".
_EINVAL = 22
_NO_DAEMON = 107  # ENOTCONN: nothing listens on the control socket
_NEW_TARGET_TRIES = 5


class TgtIscsiTarget:
    """IscsiTarget driving one tgtd through ``tgtadm -C <control_port>``."""

    def __init__(self, runner: CommandRunner, control_port: int, portal: Portal) -> None:
        self._runner = runner
        self._control_port = control_port
        self._portal = portal

    @property
    def portal(self) -> Portal:
        return self._portal

    def ensure_export(
        self, volume_id: str, backing_file: str, chap_user: str, chap_secret: str
    ) -> TargetAddress:
        key = canonical_volume_id(volume_id)
        validate_chap(chap_user, chap_secret)
        if not os.path.isabs(backing_file) or not os.path.isfile(backing_file):
            raise PermanentDriverError(f"no backing file {backing_file} for volume {key}")
        # Five tgtadm calls for a new export: show, target, LUN, account, bind.
        shown = self._new_target(key)
        backing = shown.luns.get(VOLUME_LUN)
        if VOLUME_LUN not in shown.luns:
            self._adm(
                "--op", "new", "--mode", "logicalunit", "--tid", str(shown.tid),
                "--lun", str(VOLUME_LUN), "--backing-store", backing_file, "--bstype", "rdwr",
            )  # fmt: skip
        elif backing != backing_file:
            raise PermanentDriverError(f"volume {key} is exported from {backing}")
        if chap_user not in shown.accounts:
            self._ensure_account(shown.tid, chap_user, chap_secret)
        return TargetAddress(self._portal, shown.iqn)

    def ensure_acl(self, volume_id: str, initiator_iqn: str) -> None:
        key = canonical_volume_id(volume_id)
        validate_initiator(initiator_iqn)
        shown = self._find(key)
        if shown is None:
            raise PermanentDriverError(f"volume {key} has no export")
        if not shown.accounts:
            raise PermanentDriverError(f"volume {key} has no CHAP account: refusing an ACL")
        if initiator_iqn not in shown.acl:
            self._tolerant(
                ("--op", "bind", "--mode", "target", "--tid", str(shown.tid)),
                ("--initiator-name", initiator_iqn),
                "already exists",
            )

    def remove_acl(self, volume_id: str, initiator_iqn: str) -> None:
        key = canonical_volume_id(volume_id)
        validate_initiator(initiator_iqn)
        shown = self._find(key)
        if shown is not None and initiator_iqn in shown.acl:
            self._tolerant(
                ("--op", "unbind", "--mode", "target", "--tid", str(shown.tid)),
                ("--initiator-name", initiator_iqn),
                "does not exist",
            )

    def remove_export(self, volume_id: str) -> None:
        key = canonical_volume_id(volume_id)
        shown = self._find(key)
        if shown is None:
            return
        if shown.sessions:
            raise ExportInUse(key, shown.sessions)
        # The target first: tgtd refuses while a session is open and then
        # leaves everything as it was. An account bound to no target grants
        # nothing, so a crash before the accounts go leaves no way in.
        done = self._adm("--op", "delete", "--mode", "target", "--tid", str(shown.tid), check=False)
        if not done.ok:
            if "still active" in done.stderr:
                raise ExportInUse(key, (self._find(key) or shown).sessions)
            if self._find(key) is not None:
                raise self._failure(done)
        for user in shown.accounts:
            self._tolerant(("--op", "delete", "--mode", "account"), ("--user", user), "can't find")

    def list_exports(self) -> list[Export]:
        exports = []
        for shown in self._show():
            volume_id = volume_id_of(shown.iqn)
            if volume_id is None:
                continue
            exports.append(
                Export(
                    volume_id=volume_id,
                    iqn=shown.iqn,
                    backing_file=shown.luns.get(VOLUME_LUN),
                    chap_users=tuple(sorted(shown.accounts)),
                    initiators=tuple(sorted(shown.acl)),
                    sessions=tuple(sorted(set(shown.sessions))),
                )
            )
        return sorted(exports, key=lambda e: e.volume_id)

    def delete_every_target(self) -> int:
        """Force every target of this daemon away, sessions or not (its
        accounts too): the first step of stopping tgtd. Returns how many."""
        shown = self._show()
        for target in shown:
            self._tolerant(
                ("--op", "delete", "--mode", "target"),
                ("--force", "--tid", str(target.tid)),
                "can't find",
            )
        for user in parse_accounts(self._adm("--op", "show", "--mode", "account").stdout):
            self._tolerant(("--op", "delete", "--mode", "account"), ("--user", user), "can't find")
        return len(shown)

    def _find(self, volume_id: str) -> ShownTarget | None:
        iqn = target_iqn(volume_id)
        return next((t for t in self._show() if t.iqn == iqn), None)

    def _show(self) -> list[ShownTarget]:
        return parse_targets(self._adm("--op", "show", "--mode", "target").stdout)

    def _new_target(self, volume_id: str) -> ShownTarget:
        """The volume's target as shown, created under the next free tid if
        missing; another worker taking that tid at the same moment only
        costs a retry."""
        iqn = target_iqn(volume_id)
        for _ in range(_NEW_TARGET_TRIES):
            shown = self._show()
            if found := next((t for t in shown if t.iqn == iqn), None):
                return found
            tid = max((t.tid for t in shown), default=0) + 1
            argv = ("--op", "new", "--mode", "target", "--tid", str(tid), "--targetname", iqn)
            if self._adm(*argv, check=False).ok:
                return ShownTarget(tid, iqn)
        raise TransientDriverError(f"could not create the target of volume {volume_id}")

    def _ensure_account(self, tid: int, user: str, secret: str) -> None:
        # An account that exists (a re-run after a crash) keeps its secret.
        self._tolerant(
            ("--op", "new", "--mode", "account"),
            ("--user", user, "--password", secret),
            "already exists",
            secrets=(secret,),
        )
        self._tolerant(
            ("--op", "bind", "--mode", "account", "--tid", str(tid)),
            ("--user", user),
            "already exists",
        )

    def _tolerant(
        self,
        head: Sequence[str],
        tail: Sequence[str],
        fine_if: str,
        secrets: Sequence[str] = (),
    ) -> None:
        """Run a change whose goal may already be reached (a re-run, or a race
        with another worker): tgtadm then says so with exit code 22."""
        done = self._adm(*head, *tail, check=False, secrets=secrets)
        if not done.ok and not (done.returncode == _EINVAL and fine_if in done.stderr):
            raise self._failure(done, secrets)

    def _adm(self, *args: str, check: bool = True, secrets: Sequence[str] = ()) -> Completed:
        argv = ["tgtadm", "-C", str(self._control_port), "--lld", "iscsi", *args]
        try:
            return self._runner.run(argv, check=check, timeout=TGTADM_TIMEOUT_S, secrets=secrets)
        except CommandFailed as failed:
            raise self._failure(failed.result, secrets) from None

    def _failure(self, done: Completed, secrets: Sequence[str] = ()) -> Exception:
        """A tgtadm that could not reach its daemon (not started yet, or
        restarting) may work later; any other refusal will not."""
        message = mask(done.stderr.strip(), secrets)
        if done.returncode == _NO_DAEMON or "tgt daemon" in message:
            return TransientDriverError(f"tgtd on control port {self._control_port}: {message}")
        return PermanentDriverError(f"{describe(done.argv, secrets)}: {message}")
