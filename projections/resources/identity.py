"""Identity's read models: the directory, and revoked tokens."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.identity import IdentityView
from projections.revocations import RevocationsView

RESOURCE = ProjectionResource("identity", (IdentityView, RevocationsView))
