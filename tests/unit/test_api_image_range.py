"""Unit tests for reading a download's Range header."""

import pytest

from api.image_data import RangeNotSatisfiable, byte_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),  # a suffix longer than the image: all of it
        ("bytes=90-500", (90, 99)),
        (" bytes = 1 - 2 ", (1, 2)),
    ],
)
def test_a_single_range_is_read(header: str, expected: tuple[int, int]) -> None:
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", [None, "", "bytes=0-1,5-6", "items=0-1", "bytes=-", "bytes=a-b"])
def test_headers_we_do_not_serve_mean_the_whole_image(header: str | None) -> None:
    assert byte_range(header, 100) is None


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=7-3"])
def test_a_range_outside_the_image_is_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, 100)


def test_no_range_of_an_empty_image_is_satisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range("bytes=-1", 0)
