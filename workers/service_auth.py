"""A worker's own service credentials: it logs in to the Identity API as
its service user, like nova-compute with its [keystone_authtoken] section,
and never holds the token-signing key."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from workers.drivers.errors import TransientDriverError

SERVICE_PROJECT = "service"
RENEW_BEFORE_EXPIRY_S = 300.0


def service_user_name(role: str) -> str:
    return f"svc-{role}"


@dataclass(frozen=True)
class ServiceCredentials:
    api_url: str
    user_name: str
    password: str
    project_name: str = SERVICE_PROJECT


class ServiceToken:
    """A token for the service user, renewed before it expires or when the
    API says it is no longer valid (``invalidate``)."""

    def __init__(self, credentials: ServiceCredentials) -> None:
        self.credentials = credentials
        self._token, self._renew_at = "", 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if not self._token or time.monotonic() >= self._renew_at:
                self._token, lifetime = self._login()
                self._renew_at = time.monotonic() + max(lifetime - RENEW_BEFORE_EXPIRY_S, 0.0)
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = ""

    def _login(self) -> tuple[str, float]:
        c = self.credentials
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": c.user_name,
                            "domain": {"id": "default"},
                            "password": c.password,
                        }
                    },
                },
                "scope": {"project": {"name": c.project_name, "domain": {"id": "default"}}},
            }
        }
        try:
            response = httpx.post(f"{c.api_url}/identity/v3/auth/tokens", json=body, timeout=30)
        except httpx.HTTPError as exc:
            raise TransientDriverError(f"service login failed: {exc}") from exc
        if response.status_code != 201:
            raise TransientDriverError(f"service login answered {response.status_code}")
        token = response.json()["token"]
        issued, expires = (_epoch(token[k]) for k in ("issued_at", "expires_at"))
        return response.headers["X-Subject-Token"], expires - issued


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
