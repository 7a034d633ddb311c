"""The interop verdict: the guideline list, the file of expected failures
(only what waits for networking or block storage, each with a reason), and
how tempest's results become each required test's outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.interop import EXPECTED, GUIDELINE
from ops.interop_results import (
    ListError,
    Required,
    listed_tests,
    load_expected,
    load_guideline,
    outcomes,
    summary,
    verdict,
    wide_summary,
)
from ops.interop_tempest import TempestResult

NOVA = Required(
    "nova",
    "compute-servers-list",
    "tempest.api.compute.servers.t.C.test_a",
    "1" * 8 + "-1111-1111-1111-" + "1" * 12,
)
KEYSTONE = Required(
    "keystone",
    "identity-v3-tokens-create",
    "tempest.api.identity.v3.t.T.test_b",
    "2" * 8 + "-2222-2222-2222-" + "2" * 12,
)
NEUTRON = Required(
    "neutron",
    "networks-list",
    "tempest.api.network.t.N.test_c",
    "3" * 8 + "-3333-3333-3333-" + "3" * 12,
)
GUIDE = [NOVA, KEYSTONE, NEUTRON]


def _expected(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expected.txt"
    path.write_text(text)
    return path


def test_the_shipped_guideline_has_217_tests_and_its_expected_failures_are_all_excusable() -> None:
    guideline = load_guideline(GUIDELINE)
    assert len(guideline) == 217
    expected = load_expected(EXPECTED, guideline)  # raises on any line it would refuse
    projects = {t.project for t in guideline if t.name in expected}
    assert projects <= {"nova", "neutron", "cinder"}
    assert all(e.reason for e in expected.values())


def test_an_identity_test_may_not_be_excused(tmp_path: Path) -> None:
    path = _expected(tmp_path, f"{KEYSTONE.name}  networking: no reason it may give\n")
    with pytest.raises(ListError, match="keystone test may not be excused"):
        load_expected(path, GUIDE)


def test_a_line_needs_a_known_test_a_known_service_and_a_reason(tmp_path: Path) -> None:
    for line in (
        "tempest.api.compute.nope.X.test_z  networking: not in the guideline",
        f"{NOVA.name}  dns: not a service that is being built",
        f"{NOVA.name}  networking:",
        f"{NEUTRON.name}  block-storage: neutron waits for networking, not volumes",
        f"{NOVA.name}  guest-login: gone: real guests are logged in to (ops/interop_guests.py)",
    ):
        with pytest.raises(ListError):
            load_expected(_expected(tmp_path, line + "\n"), GUIDE)


def test_a_test_takes_its_own_result_else_its_class_s_set_up_else_counts_as_not_run() -> None:
    results = [
        TempestResult(f"{NOVA.name}[id-{NOVA.uuid},smoke]", "success", ""),
        TempestResult("setUpClass (tempest.api.network.t.N)", "skip", "Neutron is not available"),
    ]
    found = {o.test.project: o for o in outcomes(GUIDE, results)}
    assert found["nova"].status == "passed"
    assert (found["neutron"].status, found["neutron"].reason) == (
        "skipped",
        "Neutron is not available",
    )
    assert found["keystone"].status == "not run"


def test_a_failure_breaks_the_run_unless_excused_and_an_excused_pass_breaks_it_too(
    tmp_path: Path,
) -> None:
    expected = load_expected(_expected(tmp_path, f"{NEUTRON.name}  networking: issue 21\n"), GUIDE)
    results = [
        TempestResult(f"{NOVA.name}[id-{NOVA.uuid}]", "fail", "boom"),
        TempestResult(f"{KEYSTONE.name}[id-{KEYSTONE.uuid}]", "success", ""),
    ]
    judged = verdict(outcomes(GUIDE, results), expected)
    assert [o.test.project for o in judged.unexpected] == ["nova"] and not judged.ok
    now_passing = [TempestResult(f"{t.name}[id-{t.uuid}]", "success", "") for t in GUIDE]
    judged = verdict(outcomes(GUIDE, now_passing), expected)
    assert [o.test.project for o in judged.stale] == ["neutron"] and not judged.ok


def test_the_summary_ends_with_passed_and_failed_counts(tmp_path: Path) -> None:
    results = [TempestResult(f"{KEYSTONE.name}[id-{KEYSTONE.uuid}]", "success", "")]
    lines = summary(outcomes(GUIDE, results), {})
    assert lines[-1] == "1 passed, 2 failed"
    assert any(line.split() == ["keystone", "1", "of", "1", "passed"] for line in lines)


def test_the_wide_count_charges_a_skipped_class_to_each_of_its_tests() -> None:
    listed = [f"{NOVA.name}[id-{NOVA.uuid}]", f"{KEYSTONE.name}[id-{KEYSTONE.uuid},smoke]"]
    tests = listed_tests(listed, ("tempest.api.compute", "tempest.api.identity.v3"))
    results = [TempestResult("setUpClass (tempest.api.compute.servers.t.C)", "skip", "no")]
    lines = wide_summary(
        outcomes(tests, results), ("tempest.api.compute", "tempest.api.identity.v3")
    )
    assert lines[-1] == "0 passed, 1 failed, 1 skipped"
