"""Fetch an image's bytes from the Image API, as nova-compute asks Glance."""

from __future__ import annotations

from pathlib import Path

import httpx

from commands.tokens import TokenCodec
from workers.drivers.errors import PermanentDriverError, TransientDriverError


class HttpImageFetcher:
    """Downloads ``/image/v2/images/<id>/file`` with a service token, so compute
    hosts need no shared filesystem with the image store."""

    def __init__(self, api_url: str, tokens: TokenCodec) -> None:
        self.api_url, self.tokens = api_url.rstrip("/"), tokens

    def __call__(self, image_id: str, dest: Path) -> None:
        token, _ = self.tokens.issue("service:compute", "compute", "", "service", ("admin",))
        url = f"{self.api_url}/image/v2/images/{image_id}/file"
        try:
            with (
                httpx.stream("GET", url, headers={"X-Auth-Token": token}, timeout=60) as resp,
                dest.open("wb") as out,
            ):
                if resp.status_code in (404, 410):
                    raise PermanentDriverError(f"image {image_id} has no data to fetch")
                if resp.status_code != 200:
                    raise TransientDriverError(f"image fetch answered {resp.status_code}")
                for chunk in resp.iter_bytes(1 << 20):
                    out.write(chunk)
        except httpx.HTTPError as exc:
            raise TransientDriverError(f"image fetch failed: {exc}") from exc
