"""Image v2 data: upload (streamed into the store) and download (streamed out,
with Range requests)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from api.context import authorize, read_your_writes, state
from api.errors import error_response
from api.images import _visible
from commands.receipt import Receipt
from domain.errors import Forbidden, InvalidInput, TooLarge
from domain.values import Actor

# What the store is handed at a time: one event-loop hop per piece, not per
# socket read, and never more than this held per upload.
PIECE = 1 << 20
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def is_upload(method: str, path: str) -> bool:
    """Image data uploads stream to disk under their own size limit, not the JSON one."""
    return (
        method == "PUT"
        and path.startswith("/image/v2/images/")
        and path.endswith(("/file", "/stage"))
    )


async def _next_piece(stream: AsyncIterator[bytes]) -> bytes:
    piece = bytearray()
    while len(piece) < PIECE:
        try:
            piece += await stream.__anext__()
        except StopAsyncIteration:
            break
        except ClientDisconnect:
            raise InvalidInput("The upload was interrupted before its end") from None
    return bytes(piece)


def request_pieces(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body, read from the event loop as the store (in a worker
    thread) asks for it: the body is never held whole, in memory or on disk."""
    while piece := anyio.from_thread.run(_next_piece, stream):
        yield piece


def refuse_declared_over(request: Request, cap: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise TooLarge(f"Image exceeds the storage quota: the size cap is {cap} bytes")


Streamed = Callable[[str, Iterator[bytes], Actor, Callable[[Receipt], None]], Receipt]


async def stream_body(request: Request, command: Streamed) -> None:
    """The request body streamed to ``command`` (an upload or a staging),
    answered once reads show what it appended."""
    actor = authorize(request, "image:upload_image")
    refuse_declared_over(request, state(request).services.image_size_cap)  # before any append
    chunks = request_pieces(request.stream().__aiter__())
    aborted: list[Receipt] = []
    try:
        receipt = await run_in_threadpool(
            command, request.path_params["id"], chunks, actor, aborted.append
        )
    finally:
        # A failed upload appended its way back to 'queued': the error answer,
        # like a success, comes once reads show it.
        for abort in aborted:
            await read_your_writes(request, abort)
    await read_your_writes(request, receipt)


async def upload(request: Request) -> Response:
    await stream_body(request, state(request).services.upload_image)
    return Response(status_code=204)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one range (first, last byte) a Range header asks of ``size`` bytes;
    None for none or one we do not serve (several ranges: the whole image, as
    RFC 9110 allows). Raises RangeNotSatisfiable when it lies past the end."""
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last n bytes
        if int(last) == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable
    return start, end


class RangeNotSatisfiable(ValueError):
    """416: the range starts past the image's end."""


async def download(request: Request) -> Response:
    actor = authorize(request, "image:download_image")
    image_id = request.path_params["id"]
    # Compute hosts fetch the image of any project they boot (a service user).
    any_project = state(request).policy.allowed(actor, "image:download_image:any_project")
    row = await _visible(request, actor, image_id, any_project)
    if row["status"] == "deactivated" and not actor.is_admin:
        raise Forbidden(
            "The requested image has been deactivated. Image data download is prohibited."
        )
    if row["status"] not in ("active", "deactivated"):
        return Response(status_code=204)  # Glance: no data uploaded yet
    return _stream(request, image_id, int(row["size"]), row["checksum"])


def _stream(request: Request, image_id: str, size: int, checksum: str) -> Response:
    store = state(request).services.image_store
    try:
        wanted = byte_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        message = f"Requested range not satisfiable for an image of {size} bytes"
        return error_response(request, 416, message, {"Content-Range": f"bytes */{size}"})
    headers = {"Accept-Ranges": "bytes"}
    if wanted is None:
        # Glance's header; only on the whole image, whose md5 it is.
        headers |= {"Content-MD5": checksum, "Content-Length": str(size)}
        chunks = store.open(image_id)
        return StreamingResponse(chunks, headers=headers, media_type="application/octet-stream")
    first, last = wanted
    headers |= {
        "Content-Range": f"bytes {first}-{last}/{size}",
        "Content-Length": str(last - first + 1),
    }
    chunks = store.open(image_id, first, last - first + 1)
    return StreamingResponse(chunks, 206, headers=headers, media_type="application/octet-stream")


routes = [
    Route("/image/v2/images/{id}/file", upload, methods=["PUT"]),
    Route("/image/v2/images/{id}/file", download, methods=["GET"]),
]
