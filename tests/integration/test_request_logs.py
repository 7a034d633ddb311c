"""The request id on the API's log lines under the real server (uvicorn):
on the request's own line, on lines logged while it is handled, and on the
server's traceback of a request that failed."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.metrics import ApiMetrics, MetricsMiddleware
from api.request_id import RequestIdMiddleware
from commands.logs import JsonFormatter, RequestIdFilter
from ops.ports import free_port

RID = "req-11111111-2222-4333-8444-555555555555"


async def talkative(request: Request) -> Response:
    logging.getLogger("cloudledger.test").warning("working on it")
    return Response(b"done")


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug")


@pytest.fixture
def served() -> Iterator[tuple[str, io.StringIO]]:
    """The middlewares of api/app.py around two routes, served by uvicorn
    with cloudledger's log lines (as `cloudledger api` runs it)."""
    app = Starlette(
        routes=[Route("/talkative", talkative), Route("/broken", broken)],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(MetricsMiddleware, metrics=ApiMetrics()),
        ],
    )
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter("api"))
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", lines
    finally:
        server.should_exit = True
        thread.join(10)
        root.removeHandler(handler)
        root.setLevel(level)


def _lines_of(lines: io.StringIO, request_id: str) -> list[dict[str, object]]:
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    return [line for line in logged if line.get("request_id") == request_id]


def test_every_line_of_a_request_carries_its_id_even_the_servers_traceback(
    served: tuple[str, io.StringIO],
) -> None:
    url, lines = served
    headers = {"X-OpenStack-Request-Id": RID}
    assert httpx.get(f"{url}/talkative", headers=headers).status_code == 200
    other = httpx.get(f"{url}/broken", headers={"X-OpenStack-Request-Id": RID.replace("1", "9")})
    assert other.status_code == 500
    time.sleep(0.2)  # the server logs the traceback after it answered

    mine = _lines_of(lines, RID)
    assert [line["message"] for line in mine] == ["working on it", mine[1]["message"]]
    assert mine[1]["route"] == "/talkative" and mine[1]["status"] == 200
    failed = _lines_of(lines, RID.replace("1", "9"))
    assert {line["logger"] for line in failed} == {"cloudledger.requests", "uvicorn.error"}
    assert any("RuntimeError: a bug" in str(line.get("exception")) for line in failed)
