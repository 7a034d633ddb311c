"""Resize, confirmResize and revertResize: an instance moves to a new flavor,
on the same host or another, and back if the user reverts.

The events live on ``Resizing``, a base class of Instance, so the ledger
stores them as ``domain.resize:Resizing.<Event>``. Code that follows them
names them ``Resizing.<Event>``: ``Instance.<Event>`` is a subclass that no
stored event is an instance of.

One hop per event (the routes are in workers/routes.py):
- ResizeRequested (API): the quota moves to the new flavor; the scheduler
  then picks a destination.
- ResizeScheduled (scheduler): the new flavor is claimed on the destination
  under the key "<id>/resize", beside the source's claim; the source host
  then powers the guest off, copies its root disk out and stashes its disks.
- ResizeMigrated (source): the destination builds the guest with the new
  flavor.
- ResizeFinished (destination): VERIFY_RESIZE. Both claims are held.
- ResizeConfirmed (API): the source's claim is released and the
  destination's becomes the instance's claim. StashDropRequested, in the
  same save, asks the source to delete its stash (StashDropped).
- RevertRequested (API): the quota moves back; the destination removes its
  guest (RevertDestCleaned), then the source restores its stash and runs the
  guest with the old flavor (ResizeReverted), releasing the destination's claim.
- ResizeRefused (scheduler): no host can take the new flavor; the server
  stays as it was and the quota moves back.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor, FlavorSnapshot, PowerState, TaskState, VmState


def resize_claim_key(instance_id: object) -> str:
    """The destination's claim while a resize waits to be confirmed."""
    return f"{instance_id}/resize"


class Resizing(Aggregate):
    """The resize part of the Instance aggregate (see the module docstring)."""

    # Kept by Instance; declared here for the type checker.
    vm_state: VmState
    task_state: TaskState | None
    power_state: PowerState
    host: str | None
    flavor: FlavorSnapshot
    holds_claim: bool
    last_request: Actor
    # Kept here, read through the properties below (old snapshots lack them).
    new_flavor: FlavorSnapshot | None
    old_flavor: FlavorSnapshot | None
    source_host: str | None
    dest_host: str | None
    claim_host: str | None
    resize_claim_host: str | None
    stashed_on: str | None
    was_running: bool
    dest_cleaned: bool

    def _resize_fact(self, name: str) -> object:
        # Snapshots taken before resize existed lack these attributes.
        return self.__dict__.get(name)

    @property
    def resize_to(self) -> FlavorSnapshot | None:
        value = self._resize_fact("new_flavor")
        return value if isinstance(value, FlavorSnapshot) else None

    @property
    def resize_from(self) -> FlavorSnapshot | None:
        value = self._resize_fact("old_flavor")
        return value if isinstance(value, FlavorSnapshot) else None

    @property
    def resize_source(self) -> str | None:
        return self._resize_fact("source_host")  # type: ignore[return-value]

    @property
    def resize_dest(self) -> str | None:
        return self._resize_fact("dest_host")  # type: ignore[return-value]

    @property
    def resize_was_running(self) -> bool:
        """Whether the guest ran when the resize was asked (it runs after, too)."""
        return bool(self._resize_fact("was_running"))

    @property
    def stash_host(self) -> str | None:
        """The host that keeps the disks of the flavor before a resize."""
        return self._resize_fact("stashed_on")  # type: ignore[return-value]

    def held_claims(self) -> list[tuple[str, str]]:
        """(host, claim key) of every claim the instance holds."""
        if not self.holds_claim:
            return []
        main = self._resize_fact("claim_host") or self.host
        claims = [(str(main), str(self.id))] if main else []
        extra = self._resize_fact("resize_claim_host")
        if extra:
            claims.append((str(extra), resize_claim_key(self.id)))
        return claims

    def _check(self, action: str, vm: tuple[VmState, ...], task: TaskState | None) -> None:
        if self.vm_state not in vm or self.task_state != task:
            state = f"vm_state {self.vm_state}, task_state {self.task_state}"
            raise InvalidTransition(f"instance {self.id}", state, action)

    # Asking ---------------------------------------------------------------

    def request_resize(self, flavor: FlavorSnapshot, actor: Actor) -> None:
        """The caller moves the quota to the new flavor in the same save."""
        self._check("resize", (VmState.ACTIVE, VmState.STOPPED), None)
        if flavor.flavor_id == self.flavor.flavor_id:
            raise InvalidInput("When resizing, instances must change flavor!")
        if flavor.disk_gb < self.flavor.disk_gb:
            raise InvalidInput("Resizing to a flavor with a smaller root disk is not allowed.")
        self._resize_requested(flavor, actor)

    class ResizeRequested(Aggregate.Event):
        flavor: FlavorSnapshot
        actor: Actor

    @event(ResizeRequested)
    def _resize_requested(self, flavor: FlavorSnapshot, actor: Actor) -> None:
        self.last_request = actor
        self.task_state = TaskState.RESIZE_PREP
        self.new_flavor, self.old_flavor = flavor, self.flavor
        self.was_running = self.vm_state == VmState.ACTIVE

    # The scheduler --------------------------------------------------------

    def resize_scheduled(self, dest_host: str, actor: Actor) -> None:
        """The caller claims the new flavor on ``dest_host`` in the same save."""
        self._check("schedule resize", (VmState.ACTIVE, VmState.STOPPED), TaskState.RESIZE_PREP)
        self._resize_scheduled(dest_host, str(self.host), actor)

    class ResizeScheduled(Aggregate.Event):
        dest_host: str
        source_host: str
        actor: Actor

    @event(ResizeScheduled)
    def _resize_scheduled(self, dest_host: str, source_host: str, actor: Actor) -> None:
        self.task_state = TaskState.RESIZE_MIGRATING
        self.dest_host, self.source_host = dest_host, source_host
        self.claim_host, self.resize_claim_host = source_host, dest_host

    def refuse_resize(self, message: str, actor: Actor) -> None:
        """No host can take the new flavor: nothing changed but the quota,
        which the caller moves back in the same save."""
        self._check("refuse resize", (VmState.ACTIVE, VmState.STOPPED), TaskState.RESIZE_PREP)
        self._resize_refused(message, actor)

    class ResizeRefused(Aggregate.Event):
        message: str
        actor: Actor

    @event(ResizeRefused)
    def _resize_refused(self, message: str, actor: Actor) -> None:
        self.task_state = None
        self.new_flavor = self.old_flavor = None

    # The hosts ------------------------------------------------------------

    def mark_migrated(self, actor: Actor) -> None:
        """The source powered the guest off, copied its root disk out and
        stashed its disks."""
        self._check("migrate", (VmState.ACTIVE, VmState.STOPPED), TaskState.RESIZE_MIGRATING)
        self._migrated(str(self.resize_dest), actor)

    class ResizeMigrated(Aggregate.Event):
        dest_host: str
        actor: Actor

    @event(ResizeMigrated)
    def _migrated(self, dest_host: str, actor: Actor) -> None:
        self.task_state = TaskState.RESIZE_MIGRATED
        self.stashed_on = self.source_host
        self.power_state = PowerState.SHUTDOWN

    def mark_resize_finished(self, actor: Actor) -> None:
        """The destination runs the guest (or keeps it off) with the new flavor."""
        self._check("finish resize", (VmState.ACTIVE, VmState.STOPPED), TaskState.RESIZE_MIGRATED)
        assert self.resize_to is not None
        self._resize_finished(str(self.resize_dest), self.resize_to, self.was_running, actor)

    class ResizeFinished(Aggregate.Event):
        host: str
        flavor: FlavorSnapshot
        running: bool  # the guest runs, as it did before the resize
        actor: Actor

    @event(ResizeFinished)
    def _resize_finished(
        self, host: str, flavor: FlavorSnapshot, running: bool, actor: Actor
    ) -> None:
        self.vm_state, self.task_state = VmState.RESIZED, None
        self.host, self.flavor = host, flavor
        self.power_state = PowerState.RUNNING if running else PowerState.SHUTDOWN

    # Confirming or reverting ------------------------------------------------

    def confirm_resize(self, actor: Actor) -> None:
        """The caller releases the source's claim and renames the
        destination's in the same save."""
        self._check("confirmResize", (VmState.RESIZED,), None)
        self._resize_confirmed(str(self.resize_source), self.was_running, actor)

    class ResizeConfirmed(Aggregate.Event):
        source_host: str
        running: bool
        actor: Actor

    @event(ResizeConfirmed)
    def _resize_confirmed(self, source_host: str, running: bool, actor: Actor) -> None:
        self.last_request = actor
        self.vm_state = VmState.ACTIVE if running else VmState.STOPPED
        self.claim_host, self.resize_claim_host = self.host, None
        self._forget_resize()

    def request_revert(self, actor: Actor) -> None:
        """The caller moves the quota back in the same save."""
        self._check("revertResize", (VmState.RESIZED,), None)
        self._revert_requested(actor)

    class RevertRequested(Aggregate.Event):
        actor: Actor

    @event(RevertRequested)
    def _revert_requested(self, actor: Actor) -> None:
        self.last_request = actor
        self.task_state = TaskState.RESIZE_REVERTING

    @property
    def revert_at_source(self) -> bool:
        """Whether the destination has removed its guest, so the source's turn has come."""
        return bool(self._resize_fact("dest_cleaned"))

    def mark_dest_cleaned(self, actor: Actor) -> None:
        self._check("clean destination", (VmState.RESIZED,), TaskState.RESIZE_REVERTING)
        if self.revert_at_source:
            raise InvalidTransition(f"instance {self.id}", "reverting", "clean destination")
        self._dest_cleaned(str(self.resize_source), actor)

    class RevertDestCleaned(Aggregate.Event):
        source_host: str
        actor: Actor

    @event(RevertDestCleaned)
    def _dest_cleaned(self, source_host: str, actor: Actor) -> None:
        # From here on the source holds the guest: a delete goes there.
        self.dest_cleaned, self.host = True, source_host
        self.power_state = PowerState.SHUTDOWN

    def mark_reverted(self, actor: Actor) -> None:
        """The source runs the guest again with the old flavor; the caller
        releases the destination's claim in the same save."""
        self._check("finish revert", (VmState.RESIZED,), TaskState.RESIZE_REVERTING)
        if not self.revert_at_source or self.resize_from is None:
            raise InvalidTransition(f"instance {self.id}", "reverting", "finish revert")
        self._reverted(str(self.resize_source), self.resize_from, self.was_running, actor)

    class ResizeReverted(Aggregate.Event):
        host: str
        flavor: FlavorSnapshot
        running: bool
        actor: Actor

    @event(ResizeReverted)
    def _reverted(self, host: str, flavor: FlavorSnapshot, running: bool, actor: Actor) -> None:
        self.vm_state = VmState.ACTIVE if running else VmState.STOPPED
        self.task_state = None
        self.power_state = PowerState.RUNNING if running else PowerState.SHUTDOWN
        self.host, self.flavor = host, flavor
        self.resize_claim_host = self.stashed_on = None
        self._forget_resize()

    def _forget_resize(self) -> None:
        self.new_flavor = self.old_flavor = None
        self.source_host = self.dest_host = None
        self.dest_cleaned = False

    def request_stash_drop(self, actor: Actor) -> None:
        """Ask the host that keeps the old disks to delete them: after a
        confirm, or a delete while another host holds the guest (a delete on
        the stash's own host drops it with the rest)."""
        if self.stash_host:
            self._stash_drop_requested(self.stash_host, actor)

    class StashDropRequested(Aggregate.Event):
        host: str
        actor: Actor

    @event(StashDropRequested)
    def _stash_drop_requested(self, host: str, actor: Actor) -> None:
        pass

    def mark_stash_dropped(self, host: str, actor: Actor) -> None:
        """``host`` did what a StashDropRequested asked (also after a delete,
        and also when a later resize has stashed elsewhere meanwhile)."""
        self._stash_dropped(host, actor)

    class StashDropped(Aggregate.Event):
        host: str
        actor: Actor

    @event(StashDropped)
    def _stash_dropped(self, host: str, actor: Actor) -> None:
        if self.stash_host == host:
            self.stashed_on = None


RESIZE_EVENTS: tuple[type[Aggregate.Event], ...] = (
    Resizing.ResizeRequested,
    Resizing.ResizeScheduled,
    Resizing.ResizeRefused,
    Resizing.ResizeMigrated,
    Resizing.ResizeFinished,
    Resizing.ResizeConfirmed,
    Resizing.RevertRequested,
    Resizing.RevertDestCleaned,
    Resizing.ResizeReverted,
    Resizing.StashDropRequested,
    Resizing.StashDropped,
)
