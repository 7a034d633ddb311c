"""The stack's API seen from inside one of its network namespaces.

Tempest's guest-login run goes on in the stack's external namespace, the
"outside world" that floating IPs are reached from. That namespace has a
loopback of its own, so the API on the machine's 127.0.0.1 is not there:
this forwarder listens on the namespace's own 127.0.0.1 at the API's port
(so the catalog's URLs hold) and carries each connection to the API on the
machine's 127.0.0.1. A socket belongs to the namespace it was opened in,
so one process does both."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator

from workers.drivers.netns import in_namespace

_CHUNK = 1 << 16
_POLL_S = 0.2


@contextlib.contextmanager
def api_in_namespace(namespace: str, port: int) -> Iterator[None]:
    """While open: 127.0.0.1:``port`` inside ``namespace`` is the API."""
    listener = in_namespace(namespace, lambda: _listen(port))
    stop = threading.Event()
    accepting = threading.Thread(
        target=_accept, args=(listener, port, stop), name="api-bridge", daemon=True
    )
    accepting.start()
    try:
        yield
    finally:
        stop.set()
        accepting.join()
        listener.close()


def _listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    listener.settimeout(_POLL_S)  # so that the accept loop sees ``stop``
    return listener


def _accept(listener: socket.socket, port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        client.settimeout(None)
        try:
            api = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            client.close()
            continue
        api.settimeout(None)
        threading.Thread(target=_relay, args=(client, api), daemon=True).start()


def _relay(client: socket.socket, api: socket.socket) -> None:
    """Copy both ways until both ends are done (HTTP: a request, then its
    answer), passing each end on; then close both."""
    with client, api:
        other = {client: api, api: client}
        try:
            while other:
                readable, _, _ = select.select(list(other), [], [])
                for source in readable:
                    data = source.recv(_CHUNK)
                    if data:
                        other[source].sendall(data)
                        continue
                    with contextlib.suppress(OSError):
                        other[source].shutdown(socket.SHUT_WR)
                    del other[source]
        except OSError:
            return
