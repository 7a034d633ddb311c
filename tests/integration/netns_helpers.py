"""Helpers for network tests: commands in the test's namespaces, a stand-in
for the API's metadata side, and namespaces standing in for guests."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ops.guest_network import UDHCPC_SCRIPT, udhcpc_argv
from workers.drivers.linux_ports import LinuxPorts
from workers.drivers.netns import ensure_namespace
from workers.drivers.network_types import PortBinding


def run_in(namespace: str, *argv: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run a command inside one of the test's namespaces."""
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pings(namespace: str, address: str, count: int = 1, wait_s: int = 1) -> bool:
    """Whether ``address`` answers a ping sent from ``namespace``."""
    done = run_in(namespace, "busybox", "ping", "-c", str(count), "-W", str(wait_s), address)
    return done.returncode == 0


Answer = Callable[[dict[str, str]], tuple[int, bytes]]


def echo(seen: dict[str, str]) -> tuple[int, bytes]:
    return 200, json.dumps(seen).encode()


class StandIn:
    """A tiny HTTP server on 127.0.0.1 standing in for the API's metadata
    side: it answers each GET from what it saw (the path and the proxy's
    headers), by default by echoing them."""

    def __init__(self, answer: Answer = echo) -> None:
        self.requests: list[dict[str, str]] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen = {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
                standin.requests.append(seen)
                status, body = answer(seen)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metadata"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def attach_client(ports: LinuxPorts, port: PortBinding, namespace: str) -> str:
    """A namespace standing in for a guest: ``eth0`` on ``port``."""
    ensure_namespace(namespace)
    ports.ensure_veth_port(port, namespace, "eth0")
    return namespace


def udhcpc(namespace: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run the guest's own DHCP client and script in ``namespace``."""
    script = folder / "udhcpc.script"
    if not script.exists():
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
    argv = ["busybox", *udhcpc_argv("eth0", str(script))]
    return run_in(namespace, *argv, timeout=30)
