"""The interop guest-login run's forwarder (ops/interop_bridge.py): inside a
namespace of its own, 127.0.0.1 at the API's port is the API on the
machine's loopback, for as long as the forwarder is open, and for several
requests at once; afterwards nothing listens there."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ops.interop_bridge import api_in_namespace
from workers.drivers.netns import ensure_namespace, remove_namespace
from workers.drivers.netns_topology import stack_prefix

# Run inside the namespace: N requests at once to 127.0.0.1:PORT, each
# answer's first line and body printed.
CLIENT = """
import sys, threading, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
out = [None] * n
def get(i):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/x{i}", timeout=10) as r:
            out[i] = f"{r.status} {r.read().decode()}"
    except OSError as e:
        out[i] = f"error {e}"
threads = [threading.Thread(target=get, args=(i,)) for i in range(n)]
[t.start() for t in threads]
[t.join() for t in threads]
print("\\n".join(out))
"""


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"api saw {self.path}".encode() + b"." * 100_000  # more than one recv's worth
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def namespace(tmp_path: Path) -> Iterator[str]:
    name = stack_prefix(str(tmp_path)) + "-external"
    ensure_namespace(name)
    try:
        yield name
    finally:
        remove_namespace(name)


def _requests(namespace: str, port: int, n: int) -> list[str]:
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", CLIENT, str(port), str(n)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_the_api_answers_inside_the_namespace_only_while_the_bridge_is_open(
    api: int, namespace: str
) -> None:
    (before,) = _requests(namespace, api, 1)
    assert before.startswith("error")  # the namespace's own loopback has no API
    with api_in_namespace(namespace, api):
        answers = _requests(namespace, api, 8)
    assert [a.split(".", 1)[0] for a in answers] == [f"200 api saw /x{i}" for i in range(8)]
    assert all(len(a) == len(f"200 api saw /x{i}") + 100_000 for i, a in enumerate(answers))
    (after,) = _requests(namespace, api, 1)
    assert after.startswith("error")
