"""The request id: every response carries ``X-OpenStack-Request-Id`` (compute
ones ``X-Compute-Request-Id`` too), and the
events a request appends carry the same id (``Actor.request_id``), so a user's
report and the ledger meet. A client may send its own id in the OpenStack
format (``req-`` and a UUID); anything else is replaced, so ids stay
well-formed wherever they are logged or stored. Every line the API logs
while it handles a request carries the id (commands/logs.py)."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commands.logs import REQUEST_IDS

HEADER = b"x-openstack-request-id"
# Nova's own name for it, which compute answers carry as well (microversion
# 2.46 only signals that X-OpenStack-Request-Id is there too).
COMPUTE_HEADER = b"x-compute-request-id"
SCOPE_KEY = "cloudledger.request_id"
_FORMAT = re.compile(rb"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


class RequestIdMiddleware:
    """Adopt the client's well-formed id or make one; answer with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), b"")
        rid = given.decode() if _FORMAT.match(given.lower()) else new_request_id()
        scope[SCOPE_KEY] = rid.lower()

        names = (HEADER, COMPUTE_HEADER) if scope["path"].startswith("/compute") else (HEADER,)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k not in names]
                ours = [(name, scope[SCOPE_KEY].encode()) for name in names]
                message["headers"] = [*headers, *ours]
            await send(message)

        # On every line logged meanwhile. Not reset if the app raises: the
        # server logs the traceback in this same task (one per request), after
        # Starlette's 500, and that line should name the request too.
        token = REQUEST_IDS.set((scope[SCOPE_KEY],))
        await self.app(scope, receive, send_with_id)
        REQUEST_IDS.reset(token)
