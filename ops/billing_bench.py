"""`cloudledger billing bench`: times the billing replay over the whole
ledger; with ``--generate N --apply`` it first appends a synthetic history of
about N events (ops/generate.py, as `cloudledger ops generate`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from commands.app import CloudApp
from domain.metering import usage_lines
from ops.billing_replay import replay, without_cyclic_gc
from ops.generate import Figures, Plan, generate
from projections.bootstrap import postgres_recorder

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


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
        # A seed of its own for each run, so a bench can add to its ledger again.
        seed = (postgres_recorder(app).max_notification_id() or 0) + 1
        made = generate(app, Plan(generate_events, seed=seed))
        out.append(f"generated {made.events} events in {made.seconds:.1f} s ({made.rate:.0f}/s)")
    figures, head, lines = time_replay(app)
    out.append(
        f"billing replay: {head} events in the ledger, {figures.events} metered events read,"
        f" {lines} usage lines, {figures.seconds:.2f} s"
        f" ({figures.rate:.0f} metered events/s, {head / max(figures.seconds, 1e-9):.0f}"
        " ledger events/s)"
    )
    return "\n".join(out) + "\n"
