"""`make interop`: the OpenStack Powered Compute guideline's required tempest
tests against a stack of our own; fails when one does not pass, unless the
file of expected failures excuses it. The tests that log in to a guest run
after the others, on a second stack of real guests (ops/interop_guests.py);
both runs are judged together. ``--only-guest-login`` runs just those;
``--wide`` runs tempest's whole API suites of the services we serve
instead, and only counts."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from ops.interop_cloud import cloud_facts
from ops.interop_guests import (
    GUEST_LOGIN_TESTS,
    build_images_ahead,
    image_cache,
    run_guest_login,
)
from ops.interop_results import (
    Expected,
    ListError,
    Required,
    class_teardown_failures,
    listed_tests,
    load_expected,
    load_guideline,
    outcomes,
    summary,
    verdict,
    wide_summary,
)
from ops.interop_stack import REPO, StackError, own_stack
from ops.interop_tempest import (
    TempestResult,
    ensure_tempest,
    include_list,
    init_workspace,
    list_tests,
    run_tempest,
)

GUIDELINE = REPO / "tests" / "interop" / "2020.06-compute-required.txt"
EXPECTED = REPO / "tests" / "interop" / "expected-failures.txt"
WIDE_SUITES = (
    "tempest.api.identity.v3",
    "tempest.api.compute",
    "tempest.api.image.v2",
    "tempest.api.network",
    "tempest.api.volume",
)
REASON_LINES = 6


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interop", description=__doc__)
    p.add_argument("--venv", type=Path, default=REPO / ".venv-tempest", help="tempest's venv")
    p.add_argument("--workdir", type=Path, default=REPO / ".interop", help="workspace and results")
    p.add_argument("--guideline", type=Path, default=GUIDELINE)
    p.add_argument("--expected", type=Path, default=EXPECTED)
    p.add_argument("--concurrency", type=int, default=2)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--wide", action="store_true", help=f"run {', '.join(WIDE_SUITES)}")
    which.add_argument(
        "--only-guest-login",
        action="store_true",
        help="only the required tests that log in to a guest (the real-guest run)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        guideline = load_guideline(args.guideline)
        expected = load_expected(args.expected, guideline)
    except (ListError, OSError) as exc:
        print(f"interop: {exc}")
        return 2
    started = time.monotonic()
    try:
        tempest = ensure_tempest(args.venv)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"interop: {exc}")
        return 1
    installed = time.monotonic()
    workspace = args.workdir / ("wide" if args.wide else "required")
    guests = args.workdir / "guest-login"
    if args.only_guest_login:
        guideline = [t for t in guideline if t.name in GUEST_LOGIN_TESTS]
    listed: list[str] = []
    results: list[TempestResult] = []
    both = not (args.wide or args.only_guest_login)
    ahead = build_images_ahead(image_cache(guests)) if both else None
    try:
        if not args.only_guest_login:
            listed, results = _run(args, tempest, workspace, guideline)
        main_done = time.monotonic()
        if not args.wide:
            results += _save(guests, run_guest_login(tempest, guests, images_ahead=ahead))
    except StackError as exc:
        print(f"interop: the stack did not start: {exc}")
        return 1
    ended = time.monotonic()
    second = "" if args.wide else f" (the guest-login run {ended - main_done:.0f} s)"
    print(
        f"interop: tempest ready in {installed - started:.0f} s, stacks and runs "
        f"{ended - installed:.0f} s{second}; results in {args.workdir}/*/results.json"
    )
    if args.wide:
        return _report_wide(listed, results)
    return _report_required(guideline, expected, results)


def _save(workspace: Path, results: list[TempestResult]) -> list[TempestResult]:
    (workspace / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    return results


def _run(
    args: argparse.Namespace, tempest: Path, workspace: Path, guideline: Sequence[Required]
) -> tuple[list[str], list[TempestResult]]:
    """A fresh workspace, a stack of our own, the tests; what was listed and what came of it."""
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir(parents=True)
    if args.wide:
        selection = include_list([], workspace / "include.txt", prefixes=WIDE_SUITES)
    else:  # the guest-login tests have a run of their own
        ids = [t.uuid for t in guideline if t.name not in GUEST_LOGIN_TESTS]
        selection = include_list(ids, workspace / "include.txt")
    listed: list[str] = []
    began = time.monotonic()
    with own_stack() as stack:
        init_workspace(tempest, workspace, cloud_facts(stack))
        print(f"interop: stack up and tempest.conf written in {time.monotonic() - began:.0f} s")
        if args.wide:
            listed = list_tests(tempest, workspace, selection)
        began = time.monotonic()
        results = run_tempest(tempest, workspace, selection, args.concurrency)
        print(f"interop: tempest run (discovery included) in {time.monotonic() - began:.0f} s")
    return listed, _save(workspace, results)


def _report_required(
    guideline: Sequence[Required], expected: dict[str, Expected], results: list[TempestResult]
) -> int:
    found = outcomes(guideline, results)
    judged = verdict(found, expected)
    for broken in class_teardown_failures(results):
        print(f"interop: warning: {broken.test_id} failed (clean-up after the tests)")
    for outcome in judged.unexpected:
        reason = "\n      ".join(_headline(outcome.reason))
        print(f"interop: {outcome.status.upper()}: {outcome.test.name}\n      {reason}")
    for outcome in judged.stale:
        print(f"interop: PASSES NOW, remove it from {EXPECTED.name}: {outcome.test.name}")
    print("interop: OpenStack Powered Compute 2020.06, required tests:")
    print("\n".join(summary(found, expected)))
    return 0 if judged.ok else 1


def _headline(reason: str) -> list[str]:
    """The lines of a reason worth a first look: tempest's "Details:" (an
    HTTP answer or a schema mismatch), else the last lines."""
    lines = [line for line in reason.strip().splitlines() if line.strip()]
    for n, line in enumerate(lines):
        if line.startswith("Details:"):
            return [text[:300] for text in lines[n : n + 2]]
    return lines[-REASON_LINES:]


def _report_wide(listed: list[str], results: list[TempestResult]) -> int:
    """Counts per suite; the run does not fail on them (the next steps are chosen from them)."""
    print("interop: tempest's API suites of the services served:")
    print(
        "\n".join(wide_summary(outcomes(listed_tests(listed, WIDE_SUITES), results), WIDE_SUITES))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
