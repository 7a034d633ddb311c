"""`cloudledger ops generate`: a synthetic history written straight into the
ledger, in batches, in time order (ops/synthetic_cloud.py simulates it).
Put in the application's event store, so the hash chain covers every
event, with the snapshots the application takes of hot aggregates. `cloudledger billing
bench --generate` uses it too."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import PersistenceError

from commands.app import CloudApp
from commands.bootstrap import Settings, build_app
from ops.synthetic_cloud import SyntheticCloud

START = datetime(2026, 1, 1, tzinfo=UTC)
EVENTS_PER_SAVE = 5000
BAD_INPUT = 2


@dataclass(frozen=True)
class Plan:
    """What to generate: about ``events`` events over ``days`` from ``start``."""

    events: int
    projects: int = 100
    seed: int = 1
    days: float = 180.0
    hosts: int = 20
    start: datetime = START


@dataclass(frozen=True)
class Figures:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def generate(app: CloudApp, plan: Plan) -> Figures:
    """Append a synthetic history of at least ``plan.events`` events (an
    operation's events are never split, so a few more)."""
    began = time.perf_counter()
    gap = timedelta(days=plan.days) / max(plan.events, 1)
    cloud = SyntheticCloud(plan.seed, plan.projects, plan.hosts, plan.start, gap)

    def save(batch: list[Any]) -> int:
        # The event store's put, as app.save does, but of events in time
        # order (app.save would group them by aggregate).
        saved = len(app.events.put(batch))
        _take_snapshots(app, cloud, batch)
        return saved

    # One batch is written (the database's work, off the GIL) while the next is simulated.
    appended = 0  # events handed to the writer
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate-write") as writer:
        writes: list[Future[int]] = []
        while appended < plan.events:
            while (
                len(cloud.timeline) < EVENTS_PER_SAVE
                and appended + len(cloud.timeline) < plan.events
            ):
                cloud.step()
            batch, cloud.timeline = cloud.timeline, []
            if writes:
                writes[-1].result()  # one batch in flight at most
            writes.append(writer.submit(save, batch))
            appended += len(batch)
        written = sum(w.result() for w in writes)
    return Figures(written, time.perf_counter() - began)


def _take_snapshots(app: CloudApp, cloud: SyntheticCloud, batch: Sequence[Any]) -> None:
    """The snapshots ``app.save`` would have taken of the hot aggregates."""
    for event in batch:
        aggregate = cloud.hot.get(event.originator_id)
        interval = app.snapshotting_intervals.get(type(aggregate)) if aggregate else None
        if interval and event.originator_version % interval == 0:
            app.take_snapshot(event.originator_id, version=event.originator_version)


def add_parser(sub: Any) -> None:
    """The `ops` subcommands, on the CLI's subparsers."""
    ops = sub.add_parser("ops", help="tools for operating the ledger")
    actions = ops.add_subparsers(dest="ops", required=True)
    gen = actions.add_parser("generate", help="append a synthetic history (a deterministic seed)")
    gen.add_argument("--events", type=int, required=True, help="about how many events")
    gen.add_argument("--projects", type=int, default=Plan.projects)
    gen.add_argument("--seed", type=int, default=Plan.seed)
    gen.add_argument("--days", type=float, default=Plan.days, help="simulated time they span")
    gen.add_argument("--start", default=START.date().isoformat(), help="simulated start (UTC)")
    gen.add_argument("--apply", action="store_true", help="really append them")
    gen.set_defaults(main=main_ops)


def _plan(args: argparse.Namespace) -> Plan | str:
    """The plan, or what is wrong with the arguments."""
    if args.events < 1 or args.projects < 1 or args.days <= 0:
        return "--events and --projects must be at least 1, and --days positive"
    try:
        start = datetime.fromisoformat(args.start)
    except ValueError:
        return f"invalid --start {args.start[:40]!r}: use YYYY-MM-DD"
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start
    return Plan(args.events, args.projects, args.seed, args.days, start=start)


def main_ops(settings: Settings, args: argparse.Namespace) -> int:
    plan = _plan(args)
    if isinstance(plan, str):
        print(f"cloudledger ops generate: {plan}", file=sys.stderr)
        return BAD_INPUT
    if not args.apply:
        print(
            f"would append about {plan.events} synthetic events ({plan.projects} projects,"
            f" seed {plan.seed}, {plan.days:g} days from {plan.start:%Y-%m-%d});"
            " add --apply to do it"
        )
        return 0
    app = build_app(settings.database_url, pool_size=1, limits=settings.database_limits)
    try:
        made = generate(app, plan)
    except PersistenceError as exc:  # e.g. this seed was generated into this ledger before
        print(f"cloudledger ops generate: cannot append: {exc}"[:500], file=sys.stderr)
        return 1
    finally:
        app.close()
    print(f"generated {made.events} events in {made.seconds:.1f} s ({made.rate:.0f}/s)")
    return 0
