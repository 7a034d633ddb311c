"""Image v2 data: upload (streamed into the store) and download."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from api.context import authorize, read_your_writes, state
from api.images import _visible
from commands.images import MAX_IMAGE_BYTES
from domain.errors import InvalidInput

SPOOL_IN_MEMORY = 8 << 20


def is_upload(method: str, path: str) -> bool:
    """Image data uploads stream to disk under their own size limit, not the JSON one."""
    return method == "PUT" and path.startswith("/image/v2/images/") and path.endswith("/file")


async def _spool(request: Request) -> IO[bytes]:
    """Take the upload off the socket first, so the command runs in a thread
    on a plain file and a broken upload appends nothing."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMAGE_BYTES:
            spool.close()
            raise InvalidInput(f"Image exceeds the size limit of {MAX_IMAGE_BYTES} bytes")
        spool.write(chunk)
    spool.seek(0)
    return spool


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    while chunk := spool.read(1 << 20):
        yield chunk


async def upload(request: Request) -> Response:
    actor = authorize(request, "image:upload_image")
    spool = await _spool(request)
    try:
        svc = state(request).services
        receipt = await run_in_threadpool(
            svc.upload_image, request.path_params["id"], _chunks(spool), actor
        )
    finally:
        spool.close()
    await read_your_writes(request, receipt)
    return Response(status_code=204)


async def download(request: Request) -> Response:
    actor = authorize(request, "image:download_image")
    image_id = request.path_params["id"]
    # Compute hosts fetch the image of any project they boot (a service user).
    any_project = state(request).policy.allowed(actor, "image:download_image:any_project")
    row = await _visible(request, actor, image_id, any_project)
    if row["status"] != "active":
        return Response(status_code=204)  # Glance: no data uploaded yet
    chunks = state(request).services.image_store.open(image_id)
    return StreamingResponse(chunks, media_type="application/octet-stream")


routes = [
    Route("/image/v2/images/{id}/file", upload, methods=["PUT"]),
    Route("/image/v2/images/{id}/file", download, methods=["GET"]),
]
