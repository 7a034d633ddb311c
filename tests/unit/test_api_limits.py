"""What a request body may be: JSON, of this media type, not nested too deeply."""

from __future__ import annotations

import json

import pytest

from api.errors import BadRequest, UnsupportedMediaType
from api.limits import MAX_JSON_DEPTH, depth, parse_json

JSON = "application/json"


def _nested(levels: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * levels + closer * levels).encode()


@pytest.mark.parametrize(
    ("document", "expected"),
    [(1, 0), ("s", 0), ([], 1), ({}, 1), ({"a": [1, {"b": []}]}, 4), ([[], [[[]]]], 4)],
)
def test_depth_counts_nesting(document: object, expected: int) -> None:
    assert depth(document) == expected


def test_a_body_at_the_depth_limit_parses() -> None:
    assert depth(parse_json(_nested(MAX_JSON_DEPTH), JSON)) == MAX_JSON_DEPTH


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 5_000, 10_000, 100_000])
def test_a_body_nested_too_deeply_is_a_bad_request(levels: int) -> None:
    with pytest.raises(BadRequest, match="nested deeper"):
        parse_json(_nested(levels), JSON)


def test_deeply_nested_objects_are_a_bad_request() -> None:
    body = '{"a":' * 10_000 + "1" + "}" * 10_000
    with pytest.raises(BadRequest, match="nested deeper"):
        parse_json(body.encode(), JSON)


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/xml", "json"])
def test_a_body_that_is_not_declared_json_is_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        parse_json(b"{}", content_type)


@pytest.mark.parametrize(
    "content_type", [JSON, "application/json; charset=UTF-8", "Application/JSON"]
)
def test_json_media_types_with_parameters_parse(content_type: str) -> None:
    assert parse_json(json.dumps({"a": 1}).encode(), content_type) == {"a": 1}


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"1" * 5000, b"[1,]"])
def test_malformed_json_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_json(raw, JSON)
