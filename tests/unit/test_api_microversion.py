"""Compute microversion headers: what parses, and what is malformed."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from api.microversion import MAX_VERSION, MIN_VERSION, MalformedVersion, requested


def _request(**headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


@pytest.mark.parametrize(
    ("header", "expected"),
    [("compute 2.1", (2, 1)), ("compute 2.51", (2, 51)), ("compute latest", MAX_VERSION)],
)
def test_a_well_formed_version_parses(header: str, expected: tuple[int, int]) -> None:
    assert requested(_request(OpenStack_API_Version=header)) == expected


def test_no_header_means_the_minimum() -> None:
    assert requested(_request()) == MIN_VERSION


def test_the_legacy_nova_header_is_read() -> None:
    assert requested(_request(X_OpenStack_Nova_API_Version="2.10")) == (2, 10)


@pytest.mark.parametrize(
    "value",
    [
        "².1",
        "2.¹",
        "\u0662.\u0661",
        "2",
        "2.",
        ".1",
        "2.1.1",
        "a.b",
        "-2.1",
        "2." + "9" * 5000,
        " 2 . 1",
    ],
)
def test_a_malformed_version_is_refused(value: str) -> None:
    with pytest.raises(MalformedVersion):
        requested(_request(OpenStack_API_Version=f"compute {value}"))


def test_latest_is_the_highest_version_whose_formats_are_served() -> None:
    assert MAX_VERSION == (2, 52)  # 2.53 (service and hypervisor uuids) is not served
