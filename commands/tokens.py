"""Signed bearer tokens: validated by any process holding the key, without a
database round trip (like Keystone's fernet tokens, but HMAC-signed JSON)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from domain.errors import Unauthorized

TOKEN_LIFETIME_SECONDS = 3600  # the default, as Keystone's; CLOUDLEDGER_TOKEN_LIFETIME
# Tolerated difference between the clocks of the API processes.
MAX_CLOCK_SKEW_SECONDS = 60.0


@dataclass(frozen=True)
class TokenScope:
    """Where a token's roles hold, besides its project: the user's domain,
    the project's (when scoped to a project), the scope's (when scoped to a
    domain), the whole cloud (``system_scope`` "all", Keystone's system
    scope), and whether the project is the cloud's admin project (Keystone's
    ``is_admin_project``)."""

    user_domain_id: str = "default"
    user_domain_name: str = "Default"
    project_domain_id: str = "default"
    project_domain_name: str = "Default"
    domain_id: str = ""  # set only in a domain-scoped token
    domain_name: str = ""
    system_scope: str = ""  # "all" only in a system-scoped token
    is_admin_project: bool = False


@dataclass(frozen=True)
class TokenClaims:
    """Who a token speaks for, on which project (or domain, or the system,
    or nothing: unscoped), with which roles, until when. A system token's
    project is the admin project its roles come from (so what revokes them
    revokes it), not a scope. The scope fields have defaults so that tokens
    issued before them still verify; such a token is on no admin project,
    so its admin role holds only where it was granted."""

    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]
    issued_at: float
    expires_at: float
    audit_id: str
    user_domain_id: str = "default"
    user_domain_name: str = "Default"
    project_domain_id: str = "default"
    project_domain_name: str = "Default"
    domain_id: str = ""
    domain_name: str = ""
    system_scope: str = ""
    is_admin_project: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenCodec:
    """Issues and checks tokens with one shared secret key."""

    def __init__(self, key: bytes, lifetime_seconds: float = TOKEN_LIFETIME_SECONDS) -> None:
        if len(key) < 32:
            raise ValueError("token key must be at least 32 bytes")
        if lifetime_seconds <= 0:
            raise ValueError("tokens must live longer than zero seconds")
        self._key, self.lifetime_seconds = key, lifetime_seconds

    def issue(
        self,
        user_id: str,
        user_name: str,
        project_id: str,
        project_name: str,
        roles: tuple[str, ...],
        now: float | None = None,
        scope: TokenScope = TokenScope(),
    ) -> tuple[str, TokenClaims]:
        issued = time.time() if now is None else now
        claims = TokenClaims(
            user_id,
            user_name,
            project_id,
            project_name,
            roles,
            issued,
            issued + self.lifetime_seconds,
            _b64(secrets.token_bytes(16)),
            **vars(scope),
        )
        payload = _b64(json.dumps(claims.__dict__, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}", claims

    def verify(self, token: str, now: float | None = None) -> TokenClaims:
        invalid = Unauthorized("The request you have made requires authentication.")
        if not token.isascii():  # compare_digest takes only ASCII strings
            raise invalid
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise invalid
        try:
            data = json.loads(_unb64(payload))
            claims = TokenClaims(**{**data, "roles": tuple(data["roles"])})
            now = time.time() if now is None else now
            if claims.issued_at > now + MAX_CLOCK_SKEW_SECONDS:
                raise invalid  # from the future: a skewed clock or a forged key
            if claims.expires_at < now:
                raise Unauthorized("The token has expired.")
        except (ValueError, TypeError, KeyError):
            raise invalid from None
        return claims

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
