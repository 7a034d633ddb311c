"""The request id: every response carries ``X-OpenStack-Request-Id``, and the
events a request appends carry the same id (``Actor.request_id``), so a user's
report and the ledger meet. A client may send its own id in the OpenStack
format (``req-`` and a UUID); anything else is replaced, so ids stay
well-formed wherever they are logged or stored."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-openstack-request-id"
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

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != HEADER]
                message["headers"] = [*headers, (HEADER, scope[SCOPE_KEY].encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)
