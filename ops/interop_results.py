"""The interop verdict: the guideline's required tests, the file of expected
failures, and what a tempest run made of each required test."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ops.interop_tempest import TempestResult

# What each not-yet-built part may excuse, by the project a test belongs to.
NEEDS = ("networking", "block-storage")
# (Some cinder test classes boot a server on a network of their own, as
# nova's do: networking excuses them too.)
EXCUSABLE = {
    "neutron": {"networking"},
    "cinder": {"networking", "block-storage"},
    "nova": set(NEEDS),
}
_UUID = re.compile(r"\bid-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
# unittest's name for a failure (or skip) of a whole class: "setUpClass (module.Class)".
_CLASS_FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \(([\w.]+)\)$")
PASSED = "passed"


class ListError(ValueError):
    """A malformed guideline list or expected-failure file (with its line)."""


@dataclass(frozen=True)
class Required:
    """One required test of the guideline."""

    project: str
    capability: str
    name: str  # tempest.api.compute....Class.test_method
    uuid: str  # its idempotent id

    @property
    def test_class(self) -> str:
        return self.name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class Expected:
    """A required test allowed not to pass, and why."""

    needs: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    """What became of one required test: passed, failed, skipped or not run."""

    test: Required
    status: str
    reason: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED


def load_guideline(path: Path) -> list[Required]:
    """The tab-separated list: project, capability, test name, idempotent id."""
    tests = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 4 or not fields[3].startswith("id-"):
            raise ListError(f"{path}:{number}: expected project, capability, test, id-UUID")
        tests.append(Required(fields[0], fields[1], fields[2], fields[3].removeprefix("id-")))
    return tests


def listed_tests(test_ids: Sequence[str], suites: Sequence[str]) -> list[Required]:
    """Tests tempest listed (``module.Class.test[id-...,attrs]``), each under
    the suite it belongs to, as Required entries so ``outcomes`` can judge them."""
    tests = []
    for test_id in test_ids:
        uuid = _UUID.search(test_id)
        suite = next((s for s in suites if test_id.startswith(s + ".")), None)
        if uuid and suite:
            tests.append(Required(suite, "", test_id.split("[", 1)[0], uuid[1]))
    return tests


def load_expected(path: Path, guideline: Sequence[Required]) -> dict[str, Expected]:
    """``TEST  NEEDS: reason`` a line, by test name. Only a required test of
    a service not built yet may be there, and only with a reason."""
    by_name = {t.name: t for t in guideline}
    expected: dict[str, Expected] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, _, rest = line.strip().partition(" ")
        needs, _, reason = rest.strip().partition(":")
        where = f"{path}:{number}"
        test = by_name.get(name)
        if test is None:
            raise ListError(f"{where}: {name} is not a required test of the guideline")
        if needs not in EXCUSABLE.get(test.project, set()):
            raise ListError(
                f"{where}: a {test.project} test may not be excused by {needs!r}; "
                f"only {', '.join(sorted(EXCUSABLE.get(test.project, set()))) or 'nothing'}"
            )
        if not reason.strip():
            raise ListError(f"{where}: give the reason after '{needs}:'")
        if name in expected:
            raise ListError(f"{where}: {name} is listed twice")
        expected[name] = Expected(needs, reason.strip())
    return expected


def outcomes(guideline: Sequence[Required], results: Iterable[TempestResult]) -> list[Outcome]:
    """Each required test's outcome: its own result by idempotent id, else
    its class's set-up failure or skip, else 'not run'."""
    by_uuid: dict[str, TempestResult] = {}
    by_class: dict[str, TempestResult] = {}
    for result in results:
        fixture = _CLASS_FIXTURE.match(result.test_id)
        if fixture and fixture[1] == "setUpClass":
            by_class[fixture[2]] = result
        elif (uuid := _UUID.search(result.test_id)) is not None:
            by_uuid[uuid[1]] = result
    found = []
    for test in guideline:
        own = by_uuid.get(test.uuid) or by_class.get(test.test_class)
        if own is None:
            found.append(Outcome(test, "not run", "tempest reported no result"))
        else:
            found.append(Outcome(test, _status(own.status), own.reason))
    return found


def _status(subunit_status: str) -> str:
    return {"success": PASSED, "skip": "skipped"}.get(subunit_status, "failed")


def class_teardown_failures(results: Iterable[TempestResult]) -> list[TempestResult]:
    """Classes whose clean-up failed after their tests ran (worth a look, not a verdict)."""
    return [
        r
        for r in results
        if (m := _CLASS_FIXTURE.match(r.test_id)) and m[1] == "tearDownClass" and r.status == "fail"
    ]


@dataclass(frozen=True)
class Verdict:
    """Which outcomes break the run: a required test that did not pass and
    is not expected to fail, or one expected to fail that now passes (its
    line must go)."""

    unexpected: list[Outcome]
    stale: list[Outcome]

    @property
    def ok(self) -> bool:
        return not self.unexpected and not self.stale


def verdict(found: Sequence[Outcome], expected: dict[str, Expected]) -> Verdict:
    unexpected = [o for o in found if not o.passed and o.test.name not in expected]
    stale = [o for o in found if o.passed and o.test.name in expected]
    return Verdict(unexpected, stale)


def wide_summary(found: Sequence[Outcome], suites: Sequence[str]) -> list[str]:
    """Per suite: passed, failed, skipped (a class skipped whole counts each of its tests)."""
    lines = []
    for suite in suites:
        mine = [o.status for o in found if o.test.project == suite]
        counts = {s: mine.count(s) for s in (PASSED, "failed", "skipped", "not run")}
        lines.append(
            f"  {suite:<24} {len(mine):>4} tests: {counts[PASSED]:>4} passed,"
            f" {counts['failed'] + counts['not run']:>4} failed, {counts['skipped']:>4} skipped"
        )
    every = [o.status for o in found]
    failed = every.count("failed") + every.count("not run")
    lines.append(f"{every.count(PASSED)} passed, {failed} failed, {every.count('skipped')} skipped")
    return lines


def summary(found: Sequence[Outcome], expected: dict[str, Expected]) -> list[str]:
    """Per-project counts, then ``N passed, M failed`` last."""
    lines = []
    projects = sorted({o.test.project for o in found}, key=[o.test.project for o in found].index)
    for project in projects:
        mine = [o for o in found if o.test.project == project]
        passed = sum(o.passed for o in mine)
        excused = sum(not o.passed and o.test.name in expected for o in mine)
        lines.append(
            f"  {project:<9} {passed:>3} of {len(mine):>3} passed"
            + (f" ({excused} expected failures)" if excused else "")
        )
    passed = sum(o.passed for o in found)
    excused = sum(not o.passed and o.test.name in expected for o in found)
    lines.append(f"  expected failures (services not built yet): {excused}")
    lines.append(f"{passed} passed, {len(found) - passed} failed")
    return lines
