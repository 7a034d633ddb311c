"""Fetch an image's bytes from the Image API, as nova-compute asks Glance,
and upload a snapshot's."""

from __future__ import annotations

from pathlib import Path

import httpx

from commands.logs import sole_request_id
from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.image_cache import Sink
from workers.service_auth import ServiceToken


class HttpImageFetcher:
    """Downloads ``/image/v2/images/<id>/file`` with the host's service token,
    so compute hosts need no shared filesystem with the image store."""

    def __init__(self, api_url: str, token: ServiceToken) -> None:
        self.api_url, self.token = api_url.rstrip("/"), token

    def __call__(self, image_id: str, out: Sink) -> None:
        """Write the image's bytes to ``out`` as they arrive (the cache hashes
        them there); nothing is written before the answer is known good."""
        if self._fetch(image_id, out) == 401:  # expired or revoked: log in again, once
            self.token.invalidate()
            if self._fetch(image_id, out) == 401:
                raise TransientDriverError("the image API refused the service credentials")

    def _fetch(self, image_id: str, out: Sink) -> int:
        url = f"{self.api_url}/image/v2/images/{image_id}/file"
        headers = {"X-Auth-Token": self.token.get(), **_passed_on_request_id()}
        try:
            with httpx.stream("GET", url, headers=headers, timeout=60) as resp:
                if resp.status_code in (404, 410):
                    raise PermanentDriverError(f"image {image_id} has no data to fetch")
                if resp.status_code == 401:
                    return 401
                if resp.status_code != 200:
                    raise TransientDriverError(f"image fetch answered {resp.status_code}")
                for chunk in resp.iter_bytes(1 << 20):
                    out.write(chunk)
                return 200
        except httpx.HTTPError as exc:
            raise TransientDriverError(f"image fetch failed: {exc}") from exc


class HttpImageUploader:
    """Uploads a snapshot's data to ``/image/v2/images/<id>/file`` with the
    host's service token (the policy lets the service role upload snapshots)."""

    def __init__(self, api_url: str, token: ServiceToken) -> None:
        self.api_url, self.token = api_url.rstrip("/"), token

    def __call__(self, image_id: str, source: Path) -> None:
        if self._put(image_id, source) == 401:  # expired or revoked: log in again, once
            self.token.invalidate()
            if self._put(image_id, source) == 401:
                raise TransientDriverError("the image API refused the service credentials")

    def _put(self, image_id: str, source: Path) -> int:
        url = f"{self.api_url}/image/v2/images/{image_id}/file"
        headers = {
            "X-Auth-Token": self.token.get(),
            "Content-Type": "application/octet-stream",
            **_passed_on_request_id(),
        }
        try:
            with source.open("rb") as data:
                resp = httpx.put(
                    url, content=iter(lambda: data.read(1 << 20), b""), headers=headers, timeout=300
                )
        except httpx.HTTPError as exc:
            raise TransientDriverError(f"snapshot upload failed: {exc}") from exc
        if resp.status_code in (403, 404, 409, 413):
            raise PermanentDriverError(f"snapshot upload answered {resp.status_code}")
        if resp.status_code not in (204, 401):
            raise TransientDriverError(f"snapshot upload answered {resp.status_code}")
        return resp.status_code


def _passed_on_request_id() -> dict[str, str]:
    """The job's request id, so the API's lines (and events) for this call carry it."""
    request_id = sole_request_id()
    return {"X-OpenStack-Request-Id": request_id} if request_id else {}
