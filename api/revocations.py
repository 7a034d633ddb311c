"""The revocation list in memory: checking a token costs no query.

It is refreshed when the revocations read model moves (the progress
listener calls ``refresh`` before it tells waiting requests that the view
moved), so a revocation holds on every API process as soon as the
projector has applied it: within milliseconds, well inside a second."""

from __future__ import annotations

import time

from commands.tokens import MAX_CLOCK_SKEW_SECONDS, TokenClaims
from projections import revocations
from projections.reader import AsyncReader


class RevocationList:
    def __init__(self, reads: AsyncReader, token_lifetime_s: float) -> None:
        self._reads, self._lifetime = reads, token_lifetime_s
        self._revoked_at: dict[str, float] = {}  # key -> latest revocation time

    async def refresh(self) -> None:
        """Read the revocations that still cover live tokens."""
        horizon = time.time() - self._lifetime - MAX_CLOCK_SKEW_SECONDS
        rows = await self._reads.all(revocations.live(horizon))
        self._revoked_at = {row["key"]: row["revoked_at"] for row in rows}

    def revoked(self, claims: TokenClaims) -> bool:
        keys = [
            f"audit:{claims.audit_id}",
            f"user:{claims.user_id}",
            f"domain:{claims.user_domain_id}",
        ]
        if claims.project_id:
            keys += [
                f"project:{claims.project_id}",
                f"user-project:{claims.user_id}/{claims.project_id}",
                f"domain:{claims.project_domain_id}",
            ]
        if claims.domain_id:
            keys += [
                f"domain:{claims.domain_id}",
                f"user-domain:{claims.user_id}/{claims.domain_id}",
            ]
        return any(self._revoked_at.get(key, -1.0) >= claims.issued_at for key in keys)
