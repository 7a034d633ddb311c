"""No single request can hold the ledger: one far over the limits is refused
fast, one just under them is accepted, and other writers meanwhile wait no
longer than the database's lock timeout (they hardly wait at all)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from commands.bootstrap import DatabaseLimits
from domain.image import MAX_PROPERTIES
from e2e.helpers import Session, Stack, last_notification_id

pytestmark = pytest.mark.e2e

IMAGES = "/image/v2/images"


class SmallWriter:
    """Creates tiny images in a loop, timing each write."""

    def __init__(self, session: Session) -> None:
        self.latencies: list[float] = []
        self.statuses: set[int] = set()
        self._session, self._stop = session, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            response = self._session.client.post(IMAGES, json={"name": "small"})
            self.latencies.append(time.monotonic() - started)
            self.statuses.add(response.status_code)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "a small write never came back"


def test_huge_requests_are_refused_fast_and_never_stall_other_writers(
    stack: Stack, member_session: Session
) -> None:
    writer = SmallWriter(member_session)
    huge = {"name": "huge", **{f"k{i}": "x" * 65_000 for i in range(130)}}  # ~8.5 MB
    under = {"name": "under", **{f"q{i:03}": "y" * 8_000 for i in range(MAX_PROPERTIES)}}
    try:
        for _ in range(3):
            started = time.monotonic()
            refused = member_session.client.post(IMAGES, json=huge)
            assert refused.status_code == 413, refused.text[:200]
            assert time.monotonic() - started < 2
        accepted = member_session.client.post(IMAGES, json=under)  # ~1 MB, under 1 MiB
        assert accepted.status_code == 201, accepted.text[:200]
        assert len([k for k in accepted.json() if k.startswith("q")]) == MAX_PROPERTIES
        time.sleep(0.5)
    finally:
        writer.stop()

    assert writer.statuses == {201}
    assert len(writer.latencies) > 10
    worst = max(writer.latencies)
    assert worst < DatabaseLimits().lock_timeout_s, f"a small write waited {worst:.2f} s"


@pytest.mark.parametrize(
    ("properties", "status", "words"),
    [
        ({f"k{i}": "v" for i in range(MAX_PROPERTIES + 1)}, 413, f"Maximum: {MAX_PROPERTIES}"),
        ({"k" * 256: "v"}, 400, "at most 255"),
        ({"note": "v" * 65_536}, 400, "at most 65535"),
    ],
    ids=["too-many-properties", "key-too-long", "value-too-long"],
)
def test_glance_property_limits_answer_in_the_openstack_shape(
    stack: Stack, member_session: Session, properties: dict[str, str], status: int, words: str
) -> None:
    before = last_notification_id(stack)
    response = member_session.client.post(IMAGES, json={"name": "p", **properties})
    assert response.status_code == status, response.text[:200]
    (key,) = response.json()
    assert words in response.json()[key]["message"]
    assert last_notification_id(stack) == before


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    stack: Stack, member_session: Session
) -> None:
    """The declared length alone decides: the 50 MiB body is never sent."""
    port = int(stack.url.rsplit(":", 1)[1])
    token = member_session.client.headers["X-Auth-Token"].encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /image/v2/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"X-Auth-Token: " + token + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(50 << 20).encode() + b"\r\n\r\n{"
        )
        answer = b""
        while chunk := conn.recv(65536):  # the server closes: the body is never read
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    assert b'"requestEntityTooLarge"' in answer
