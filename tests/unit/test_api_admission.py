"""Admission control's arithmetic: the read model's count plus the boots this
process admitted and has not answered yet, against both bounds."""

from __future__ import annotations

from typing import Any

import pytest

from api.admission import Admission, Overloaded


def _admission(total: int = 3, project: int = 2) -> Admission:
    reads: Any = None  # counts are given to it directly here
    return Admission(reads, max_in_flight=total, max_project_in_flight=project)


def test_a_boot_under_both_bounds_is_admitted() -> None:
    with _admission().boot("p", (1, 0)):
        pass


def test_a_boot_at_the_projects_bound_is_refused() -> None:
    with pytest.raises(Overloaded, match="This project"), _admission().boot("p", (2, 2)):
        pass


def test_a_boot_at_the_clouds_bound_is_refused() -> None:
    with pytest.raises(Overloaded, match="The cloud"), _admission().boot("p", (3, 0)):
        pass


def test_boots_admitted_but_not_answered_count_against_the_bounds() -> None:
    admission = _admission()
    with admission.boot("p", (0, 0)), admission.boot("p", (0, 0)):
        with pytest.raises(Overloaded, match="This project"), admission.boot("p", (0, 0)):
            pass
        with (
            admission.boot("q", (0, 0)),  # three in flight in all now
            pytest.raises(Overloaded, match="The cloud"),
            admission.boot("r", (0, 0)),
        ):
            pass
    with admission.boot("p", (0, 0)):  # all answered: room again
        pass
