"""The metadata proxy: 169.254.169.254:80 inside a network's namespace,
forwarding each guest request to the API on this process's 127.0.0.1.

A namespace cannot reach the root namespace's loopback, and a process moved
into one loses it. So the listening socket is made by a thread that entered
the namespace (a socket stays in the namespace it was made in), and served
by this process's other threads, which still reach 127.0.0.1. The guest's
own headers are never forwarded: the proxy names the network and the
guest's address itself, and signs both with a secret the API shares, so a
guest cannot ask for another's metadata.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from workers.drivers.netns import in_namespace
from workers.drivers.network_specs import METADATA_ADDRESS

NETWORK_HEADER = "X-Cloudledger-Network-Id"
ADDRESS_HEADER = "X-Forwarded-For"
SIGNATURE_HEADER = "X-Cloudledger-Metadata-Signature"
MAX_ANSWER_BYTES = 1 << 20
UPSTREAM_TIMEOUT_S = 10.0
MAX_CLIENTS = 32


def sign(secret: bytes, network_id: str, address: str) -> str:
    """What the API checks before it believes the two headers."""
    message = f"{network_id}\n{address}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class MetadataProxy:
    """One network's proxy, from ``start`` to ``stop``.

    ``upstream`` is the API's base URL on 127.0.0.1 (a path prefix kept);
    ``address`` must be on an interface of ``namespace`` (None: this
    process's own) before ``start``.
    """

    def __init__(
        self,
        namespace: str | None,
        network_id: str,
        upstream: str,
        secret: bytes,
        *,
        address: str = METADATA_ADDRESS,
        port: int = 80,
    ) -> None:
        self.namespace, self.network_id = namespace, network_id
        target = urllib.parse.urlsplit(upstream)
        if target.scheme != "http" or not target.hostname:
            raise ValueError(f"the metadata upstream must be an http URL: {upstream!r}")
        self._upstream = (target.hostname, target.port or 80, target.path.rstrip("/"))
        self._secret = secret
        self._bind = (address, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Listen in the namespace and serve from a thread of this process."""
        if self.running:
            return
        listener = in_namespace(self.namespace, self._listen)
        server = _BoundedServer(self._bind, _handler_for(self), bind_and_activate=False)
        server.socket.close()
        server.socket = listener
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"metadata-{self.network_id[:8]}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (it holds the namespace)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            if thread is not None and thread.is_alive():
                server.shutdown()
            server.server_close()

    def _listen(self) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(self._bind)
        listener.listen(64)
        return listener

    def forward(self, path: str, guest: str) -> tuple[int, str, bytes]:
        """Ask the API for ``path`` on behalf of ``guest``: status, type, body."""
        host, port, prefix = self._upstream
        headers = {
            NETWORK_HEADER: self.network_id,
            ADDRESS_HEADER: guest,
            SIGNATURE_HEADER: sign(self._secret, self.network_id, guest),
        }
        connection = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT_S)
        try:
            connection.request("GET", prefix + path, headers=headers)
            answer = connection.getresponse()
            body = answer.read(MAX_ANSWER_BYTES + 1)
            if len(body) > MAX_ANSWER_BYTES:
                return 502, "text/plain", b"metadata answer too large\n"
            kind = answer.getheader("Content-Type", "text/plain")
            return answer.status, kind, body
        except OSError:
            return 502, "text/plain", b"the metadata service is unavailable\n"
        finally:
            connection.close()


class _BoundedServer(ThreadingHTTPServer):
    """A thread per request, but no more than MAX_CLIENTS at once: a guest
    opening connections by the thousand gets them closed, not threads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _handler_for(proxy: MetadataProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "cloudledger-metadata"
        sys_version = ""
        timeout = UPSTREAM_TIMEOUT_S  # a guest that sends nothing frees its thread

        def do_GET(self) -> None:
            path = "/" + urllib.parse.urlsplit(self.path).path.lstrip("/")
            status, kind, body = proxy.forward(path, self.client_address[0])
            self._answer(status, kind, body)

        def do_HEAD(self) -> None:
            self.do_GET()

        def _answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args  # the API logs each request; no second copy here

    return Handler
