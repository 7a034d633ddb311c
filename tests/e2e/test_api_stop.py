"""The API stops on SIGTERM within a few seconds even while requests are
stuck: one whose client stopped sending its body, one blocked on the ledger."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from e2e.helpers import Session, Stack, children, wait_for

pytestmark = pytest.mark.e2e

STOP_WITHIN_SECONDS = 5.0  # the API's 3 s grace, and a margin


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _api_answers(stack: Stack) -> bool:
    try:
        return httpx.get(f"{stack.url}/identity/v3", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_sigterm_stops_the_api_with_requests_stuck(stack: Stack, member_session: Session) -> None:
    (api,) = children(stack.process.pid, b"ops.cli api")
    port = int(stack.url.rsplit(":", 1)[1])
    token = member_session.client.headers["X-Auth-Token"]
    slow_client = socket.create_connection(("127.0.0.1", port), timeout=30)
    slow_client.sendall(
        b"POST /image/v2/images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        b"\r\nContent-Length: 100\r\nX-Auth-Token: " + token.encode() + b'\r\n\r\n{"na'
    )  # ...and never the rest of the body
    holder = psycopg.connect(stack.database_url)
    holder.execute("LOCK TABLE cloudledger_events IN EXCLUSIVE MODE")
    blocked = threading.Thread(
        target=lambda: member_session.client.post("/image/v2/images", json={"name": "stuck"}),
        daemon=True,
    )
    try:
        blocked.start()
        time.sleep(0.5)  # both requests are inside the API now

        os.kill(api, signal.SIGTERM)
        started = time.monotonic()
        wait_for(lambda: not _alive(api), STOP_WITHIN_SECONDS + 5, "the API to exit")
        stopped_after = time.monotonic() - started
    finally:
        holder.close()
        slow_client.close()
    blocked.join(30)

    assert stopped_after < STOP_WITHIN_SECONDS
    # The supervisor starts it again; the rest of the suite needs it.
    wait_for(lambda: _api_answers(stack), 30, "the restarted API")
