"""Log lines: one JSON object each, with the process role and the request
ids of the context they were logged in; or text, for a terminal."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from commands.logs import JsonFormatter, RequestIdFilter, TextFormatter, request_context

Lines = tuple[logging.Logger, io.StringIO, logging.Handler]


@pytest.fixture
def lines() -> Iterator[Lines]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter("relay"))
    logger = logging.getLogger("cloudledger.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out, handler
    logger.removeHandler(handler)


def _logged(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_request_id_of_its_context(lines: Lines) -> None:
    logger, out, _ = lines
    with request_context(["req-1"]):
        logger.warning("relayed %d items", 3, extra={"queue": "scheduler"})
    logger.info("between requests")
    first, second = _logged(out)
    assert first["message"] == "relayed 3 items"
    assert (first["level"], first["logger"], first["role"]) == (
        "WARNING",
        "cloudledger.test_logs",
        "relay",
    )
    assert (first["request_id"], first["queue"]) == ("req-1", "scheduler")
    assert str(first["time"]).endswith("Z")
    assert "request_id" not in second and "request_ids" not in second


def test_a_batch_logs_every_request_it_works_for_once(lines: Lines) -> None:
    logger, out, _ = lines
    with request_context(["req-1", "req-2", "req-1", ""]):
        logger.info("batch")
    (line,) = _logged(out)
    assert line["request_ids"] == ["req-1", "req-2"]


def test_a_traceback_stays_inside_its_line(lines: Lines) -> None:
    logger, out, _ = lines
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("job failed")
    (line,) = _logged(out)
    assert "ValueError: boom" in str(line["exception"])


def test_text_lines_name_the_role_and_the_requests(lines: Lines) -> None:
    logger, out, handler = lines
    handler.setFormatter(TextFormatter())
    with request_context(["req-7"]):
        logger.warning("slow")
    assert out.getvalue().rstrip().endswith("WARNING relay cloudledger.test_logs: slow [req-7]")
