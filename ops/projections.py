"""`cloudledger projections`: the read models' status, and their rebuild,
verification and benchmark from the event log (projections/rebuild.py)."""

from __future__ import annotations

import argparse
import sys
import time

import psycopg

from commands.app import CloudApp
from commands.bootstrap import Settings, build_app
from ops.billing_replay import without_cyclic_gc
from ops.progress import ProgressBar
from projections.bootstrap import postgres_recorder
from projections.compare import verify
from projections.rebuild import RebuildError, ShadowBuild, rebuild
from projections.registry import VIEW_CLASSES
from projections.shadow import UnknownProjectionError, view_class
from projections.view import ProjectionView

MAX_DIFFERENCES_SHOWN = 20


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("projections", help="read models: status, rebuild, verify, bench")
    p.set_defaults(main=main_projections)
    actions = p.add_subparsers(dest="projections", required=True)
    status = actions.add_parser("status", help="positions, lag in events and seconds, rates")
    status.add_argument("--window", type=float, default=1.0, help="seconds the rate is taken over")
    status.add_argument("--watch", type=float, default=0.0, help="print again every N seconds")
    for action, text in (
        ("rebuild", "rebuild from the log into a shadow, then swap it in"),
        ("verify", "rebuild into a shadow and compare it with the live tables"),
    ):
        one = actions.add_parser(action, help=text)
        one.add_argument("name", nargs="?", help="the projection (see `projections status`)")
        one.add_argument("--all", action="store_true", help="every projection, one by one")
    bench = actions.add_parser("bench", help="time a rebuild from 0 to the head (no swap)")
    bench.add_argument("name", nargs="?", default="servers")


def main_projections(settings: Settings, args: argparse.Namespace) -> int:
    app = build_app(settings.database_url, pool_size=2, limits=settings.database_limits)
    try:
        if args.projections == "status":
            from ops.projection_status import main_status

            return main_status(app, settings.database_url, args.window, args.watch)
        if not (args.name or getattr(args, "all", False)):
            print(
                f"cloudledger projections {args.projections}: give a NAME or --all", file=sys.stderr
            )
            return 2
        action = {"rebuild": _rebuild, "verify": _verify, "bench": _bench}[args.projections]
        return action(app, settings.database_url, _chosen(args))
    except UnknownProjectionError as exc:
        print(f"cloudledger projections: {exc.args[0]}", file=sys.stderr)
        return 2
    except (RebuildError, psycopg.Error) as exc:
        print(f"cloudledger projections {args.projections}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # What was built is committed with its position: the next run resumes.
        print(f"\ncloudledger projections {args.projections}: interrupted", file=sys.stderr)
        return 130
    finally:
        app.close()


def _chosen(args: argparse.Namespace) -> list[type[ProjectionView]]:
    if getattr(args, "all", False):
        return list(VIEW_CLASSES)
    return [view_class(args.name)]


def _build(
    app: CloudApp, database_url: str, cls: type[ProjectionView], schema: str, label: str
) -> tuple[ShadowBuild, ProgressBar]:
    recorder = postgres_recorder(app)
    bar = ProgressBar(label, 0)
    view = cls(recorder.datastore)  # only for its DDL and handlers: no tables made
    return ShadowBuild(view, database_url, recorder, app.mapper, schema, bar), bar


def _rebuild(app: CloudApp, database_url: str, chosen: list[type[ProjectionView]]) -> int:
    for cls in chosen:
        build, bar = _build(app, database_url, cls, f"shadow_{cls.name}", f"rebuild {cls.name}")
        with without_cyclic_gc():
            done = rebuild(build)
        bar.finish()
        resumed = f", resumed from {done.resumed_from}" if done.resumed_from else ""
        print(
            f"{done.name}: rebuilt and swapped in at log position {done.position}{resumed};"
            f" {done.events} events in {done.seconds:.1f} s ({done.rate:,.0f} events/s)"
        )
    return 0


def _verify(app: CloudApp, database_url: str, chosen: list[type[ProjectionView]]) -> int:
    failed = False
    for cls in chosen:
        build, bar = _build(app, database_url, cls, f"verify_{cls.name}", f"verify {cls.name}")
        with without_cyclic_gc():
            position, differences = verify(build)
        bar.finish()
        if not differences:
            print(f"{cls.name}: identical to a replay of the log up to {position}")
            continue
        failed = True
        print(f"{cls.name}: {len(differences)} rows differ from a replay up to {position}:")
        for d in differences[:MAX_DIFFERENCES_SHOWN]:
            print(f"  {d.table} {d.key}: {d.what}")
        if len(differences) > MAX_DIFFERENCES_SHOWN:
            print(f"  ... and {len(differences) - MAX_DIFFERENCES_SHOWN} more")
    return 1 if failed else 0


def _bench(app: CloudApp, database_url: str, chosen: list[type[ProjectionView]]) -> int:
    """Read and decode the view's events alone, then a whole build of its
    shadow from 0 to the head (load, then indexes); nothing is swapped."""
    cls = chosen[0]
    build, _ = _build(app, database_url, cls, f"bench_{cls.name}", f"bench {cls.name}")
    head = build.log.head()
    began, cpu_began = time.perf_counter(), time.process_time()
    with without_cyclic_gc():
        read = sum(len(page) for page in build.log.pages(0, head))
    read_seconds, read_cpu = time.perf_counter() - began, time.process_time() - cpu_began
    build.progress = bar = ProgressBar(f"bench {cls.name}", 0)  # timed from here
    with build.shadow.connect() as conn:
        build.claim(conn)
        build.shadow.drop(conn)
        build.shadow.create(conn)
        began, cpu_began = time.perf_counter(), time.process_time()
        with without_cyclic_gc():
            build.load(conn, 0, head)
        loaded = time.perf_counter()
        build.shadow.finish_indexes(conn)
        conn.commit()
        ended, cpu = time.perf_counter(), time.process_time() - cpu_began
        build.shadow.drop(conn)
    bar.finish()
    total = ended - began
    print(
        f"{cls.name}: {head:,} events in the log, {read:,} of the view's topics\n"
        f"  read and decode only: {read_seconds:.2f} s ({read / read_seconds:,.0f} events/s),"
        f" {read_cpu:.2f} s of this process's CPU\n"
        f"  rebuild: load {loaded - began:.2f} s + indexes {ended - loaded:.2f} s"
        f" = {total:.2f} s ({read / total:,.0f} events/s), {cpu:.2f} s of this process's CPU"
        f" ({read / cpu:,.0f} events per CPU second)"
    )
    return 0
