"""The `cloudledger` command: run the stack, or one of its processes."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from commands.bootstrap import Settings
from commands.logs import configure_logging
from workers import routes


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _projector(settings: Settings) -> None:
    from commands.bootstrap import build_app, eventsourcing_env
    from projections.bootstrap import Projector, build_group

    limits = settings.database_limits
    app = build_app(settings.database_url, pool_size=2, limits=limits)
    group = build_group(eventsourcing_env(settings.database_url, limits=limits))
    Projector(app, group, settings.database_url).run(_stop_on_signals())


API_STOP_GRACE_SECONDS = 3


def _api(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        host="127.0.0.1",
        port=settings.api_port,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through ours (commands/logs.py)
        access_log=False,  # api/metrics.py logs each request, with its id
        # On SIGTERM, give requests this long, then cancel them.
        timeout_graceful_shutdown=API_STOP_GRACE_SECONDS,
    )
    # A cancelled request may leave its worker thread blocked in a database
    # or socket call, and Python would wait for that thread forever. Nothing
    # is lost by not waiting: every write is committed or not in PostgreSQL.
    logging.shutdown()
    os._exit(0)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cloudledger", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the whole control plane in the foreground")
    run.add_argument("--hosts", type=int, default=2, help="simulated compute hosts")
    run.add_argument("--host-vcpus", type=int, default=16, help="vCPUs of each host")
    run.add_argument("--host-ram-gb", type=int, default=64, help="RAM of each host")
    run.add_argument("--host-disk-gb", type=int, default=1024, help="disk of each host")
    sub.add_parser("api", help="serve the HTTP API on 127.0.0.1:$CLOUDLEDGER_PORT")
    sub.add_parser("projector", help="keep the read models up to date")
    sub.add_parser("relay", help="turn events into RQ jobs")
    worker = sub.add_parser("worker", help="run an RQ worker")
    worker.add_argument("role", choices=[role.name for role in routes.ROLES])
    worker.add_argument("--host", help="the host a per-host role serves (compute)")
    domains = sub.add_parser("host-domains", help="list the domains a compute host's libvirt holds")
    domains.add_argument("host")
    domains.add_argument("--timeout", type=float, default=10.0, help="seconds to wait")
    cache = sub.add_parser("image-cache", help="each compute host's cached images")
    cache.add_argument("hosts", nargs="*", help="the hosts to ask (default: every host)")
    cache.add_argument("--timeout", type=float, default=10.0, help="seconds to wait")
    sub.add_parser("status", help="where the pipeline stands: read models, relay, queues")
    from ops.audit import add_parser as add_audit

    add_audit(sub)
    bench = sub.add_parser("bench", help="benchmarks against a running stack")
    bench.add_argument("what", choices=["boot", "overload", "guest"])
    bench.add_argument("--servers", type=int, default=100)
    bench.add_argument("--concurrency", type=int, default=10)
    bench.add_argument("--flavor", default="m1.tiny")
    bench.add_argument("--image", default="tiny-qcow2")
    bench.add_argument("--keep", action="store_true", help="boot: delete only at the end")
    bench.add_argument(
        "--networks", choices=["none", "auto"], default="none", help="boot: auto = a port each"
    )
    bench.add_argument("--rate", type=float, default=90.0, help="overload: boots offered per s")
    bench.add_argument("--seconds", type=float, default=60.0, help="overload: for how long")
    from ops.billing import add_parser as add_billing

    add_billing(sub)
    from ops.projections import add_parser as add_projections

    add_projections(sub)
    from ops.generate import add_parser as add_ops

    add_ops(sub)
    from ops.ledger_stats import add_parser as add_ledger

    add_ledger(sub)
    from ops.image_scan import add_parser as add_image_scan

    add_image_scan(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings.from_env()
    configure_logging(_log_role(args), settings.log_format, settings.log_level)
    if args.command in ("run", "api") and not (_policy_loads(settings) and _token_loads(settings)):
        return 2
    # A tool that names its own entry point (audit, billing, projections, ops
    # generate, ledger stats) runs it; none below matches it.
    code = int(args.main(settings, args)) if "main" in args else 0
    if args.command == "run":
        from ops.run import HostShape, main_run

        shape = HostShape(args.host_vcpus, args.host_ram_gb, args.host_disk_gb)
        code = main_run(args.hosts, shape)
    elif args.command == "api":
        _api(settings)
    elif args.command == "projector":
        _projector(settings)
    elif args.command == "relay":
        from workers.bootstrap import run_relay

        run_relay(settings, _stop_on_signals())
    elif args.command == "worker":
        code = _worker(settings, args)
    elif args.command == "host-domains":
        from ops.hosts import print_domains

        code = print_domains(settings, args.host, args.timeout)
    elif args.command == "image-cache":
        from ops.image_cache import print_image_cache

        code = print_image_cache(settings, args.hosts, args.timeout)
    elif args.command == "status":
        from ops.status import main_status

        code = main_status(settings)
    elif args.command == "bench":
        code = _bench(settings, args)
    return code


def _log_role(args: argparse.Namespace) -> str:
    """The process's name on its log lines, as `cloudledger run` names its children."""
    if args.command == "worker":
        return f"{args.role}@{args.host}" if args.host else str(args.role)
    return {"run": "supervisor"}.get(args.command, str(args.command))


def _policy_loads(settings: Settings) -> bool:
    """Check the operator's policy file before anything starts."""
    from api.app import load_protections
    from api.policy import Policy, PolicyFileError
    from domain.property_protections import ProtectionFileError

    try:
        load_protections(settings, Policy(settings.policy_file))
    except PolicyFileError as exc:
        print(f"cloudledger: policy file refused: {exc}", file=sys.stderr)
        return False
    except ProtectionFileError as exc:
        print(f"cloudledger: property protections refused: {exc}", file=sys.stderr)
        return False
    return True


def _token_loads(settings: Settings) -> bool:
    """Check the metrics scrape token's file before anything starts."""
    from api.metrics import read_scrape_token

    try:
        read_scrape_token(settings.metrics_token_file)
    except SystemExit as exc:
        print(f"cloudledger: {exc}", file=sys.stderr)
        return False
    return True


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from workers import bootstrap

    role = bootstrap.role(args.role)
    if (why := bootstrap.refusal(role, args.host)) is not None:
        print(f"cloudledger worker {role.name}: {why}", file=sys.stderr)
        return 2
    if role.per_host and not args.host:
        print(f"cloudledger worker {role.name} needs --host", file=sys.stderr)
        return 2
    bootstrap.serve(role, settings, args.host)
    return 0


def _bench(settings: Settings, args: argparse.Namespace) -> int:
    from ops.bench import Mode, main_bench

    mode = Mode(args.flavor, args.image, keep=args.keep, networks=args.networks)
    if args.what == "guest":  # real guests, one at a time (a stack run with qemu)
        from ops.bench_guest import main_guest_bench

        return main_guest_bench(settings, args.servers, args.flavor)
    if args.what == "overload":
        from ops.bench_overload import main_overload

        return main_overload(settings, args.rate, args.seconds, mode)
    return main_bench(settings, args.servers, args.concurrency, mode)


if __name__ == "__main__":
    sys.exit(main())
