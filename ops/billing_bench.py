"""`cloudledger billing bench`: times the billing replay over the whole
ledger; with ``--generate N --apply`` it first appends a synthetic history of
about N events (projects booting, stopping, starting, resizing and deleting
servers, and uploading images), through the domain aggregates and the
application's own save, in batches."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from eventsourcing.domain import Aggregate

from commands.app import CloudApp
from domain.image import Image
from domain.instance import Instance
from domain.metering import usage_lines
from domain.values import Actor, FlavorSnapshot
from ops.billing_replay import replay, without_cyclic_gc
from projections.bootstrap import postgres_recorder

FLAVORS = (
    FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0),
    FlavorSnapshot("2", "m1.small", 1, 2048, 20, 0, 0),
    FlavorSnapshot("3", "m1.medium", 2, 4096, 40, 0, 0),
)
PROJECTS = 100
EVENTS_PER_SAVE = 5000
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Figures:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _server_life(n: int, image_id: str) -> Instance:
    """One server's whole story: boot, a few stops and starts, sometimes a
    resize, then deletion (about 20 events)."""
    project = f"bench-{n % PROJECTS:04d}"
    user = Actor(f"user-{project}", project, ("member",), f"req-{n}")
    worker = user.as_service("compute")
    vm = Instance(
        project_id=project,
        user_id=user.user_id,
        name=f"vm-{n}",
        flavor=FLAVORS[0],
        image_id=image_id,
        networks="none",
        actor=user,
    )
    vm.schedule_on("compute-1", worker)
    vm.mark_spawned(worker)
    for _ in range(n % 3 + 1):
        vm.request_stop(user)
        vm.mark_stopped(worker)
        vm.request_start(user)
        vm.mark_started(worker)
    if n % 2 == 0:
        vm.request_resize(FLAVORS[1 + (n // 2) % 2], user)
        vm.resize_scheduled("compute-2", worker)
        vm.mark_migrated(worker)
        vm.mark_resize_finished(worker)
        vm.confirm_resize(user)
    vm.request_delete(user)
    vm.mark_deleted(worker)
    return vm


def _image(n: int) -> Image:
    project = f"bench-{n % PROJECTS:04d}"
    user = Actor(f"user-{project}", project, ("member",), f"req-img-{n}")
    image = Image(
        owner=project,
        name=f"img-{n}",
        disk_format="qcow2",
        container_format="bare",
        visibility="private",
        min_disk=0,
        min_ram=0,
        properties={},
        actor=user,
    )
    image.start_upload(f"upload-{n}", user)
    size = (n % 10 + 1) * 1024**3
    image.record_upload("0" * 32, "sha512", "0" * 128, size, user, upload_id=f"upload-{n}")
    return image


def _batches(events: int) -> Iterator[list[Aggregate]]:
    image_id = str(uuid.uuid4())
    batch: list[Aggregate] = []
    pending = written = 0
    for n in itertools.count():
        if written + pending >= events:
            break
        aggregates: list[Aggregate] = [_server_life(n, image_id)]
        if n % 50 == 0:
            aggregates.append(_image(n))
        for a in aggregates:
            pending += len(a.pending_events)
        batch.extend(aggregates)
        if pending >= EVENTS_PER_SAVE:
            yield batch
            written, pending, batch = written + pending, 0, []
    if batch:
        yield batch


def generate(app: CloudApp, events: int) -> Figures:
    """Append a synthetic history of at least ``events`` events."""
    began, written = time.perf_counter(), 0
    for batch in _batches(events):
        written += len(app.save(*batch))
    return Figures(written, time.perf_counter() - began)


def time_replay(app: CloudApp) -> tuple[Figures, int, int]:
    """The replay of all time: (metered events read and time, ledger head,
    usage lines)."""
    head = postgres_recorder(app).max_notification_id() or 0
    began = time.perf_counter()
    now = datetime.now(UTC)
    done = replay(postgres_recorder(app), app.mapper, EPOCH, now)
    with without_cyclic_gc():
        lines = len(usage_lines(done.metering, now))
    return Figures(done.events, time.perf_counter() - began), head, lines


def main_bench(app: CloudApp, generate_events: int, apply: bool) -> str:
    out = []
    if generate_events:
        if not apply:
            return (
                f"would append about {generate_events} synthetic events to this ledger;"
                " add --apply to do it\n"
            )
        made = generate(app, generate_events)
        out.append(f"generated {made.events} events in {made.seconds:.1f} s ({made.rate:.0f}/s)")
    figures, head, lines = time_replay(app)
    out.append(
        f"billing replay: {head} events in the ledger, {figures.events} metered events read,"
        f" {lines} usage lines, {figures.seconds:.2f} s"
        f" ({figures.rate:.0f} metered events/s, {head / max(figures.seconds, 1e-9):.0f}"
        " ledger events/s)"
    )
    return "\n".join(out) + "\n"
