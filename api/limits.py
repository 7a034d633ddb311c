"""Bounds on what one request may send: body size, JSON shape and media type.

Where the HTTP server answers before the app (a request line or headers over
uvicorn's limits), its own plain 400 or 431 stands; the README lists those."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BadRequest, UnsupportedMediaType, error_response

MAX_JSON_DEPTH = 32  # the deepest OpenStack body we serve (a token request) is 6
JSON_MEDIA_TYPES = ("application/json",)


def parse_json(raw: bytes, content_type: str | None) -> Any:
    """A JSON document from a request body, or BadRequest / UnsupportedMediaType."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {shown!r}: send the body as application/json"
        )
    try:
        data: Any = json.loads(raw or b"null")
    except RecursionError:
        raise BadRequest(too_deep()) from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Malformed request body: not valid JSON") from None
    if depth(data) > MAX_JSON_DEPTH:
        raise BadRequest(too_deep())
    return data


def too_deep() -> str:
    return f"Malformed request body: JSON nested deeper than {MAX_JSON_DEPTH} levels"


def depth(data: Any) -> int:
    """How deeply lists and objects nest (0 for a scalar), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, reading no further
    than the limit; streamed uploads (``exempt``) carry limits of their own."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Callable[[str, str], bool]) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        declared = request.headers.get("content-length", "")
        if declared.isdecimal() and int(declared) > self.max_bytes:
            await self._refuse(request, scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(request, scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            request, 413, f"Request body is larger than the limit of {self.max_bytes} bytes"
        )
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that hands the app the body read so far, then the
    client's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
