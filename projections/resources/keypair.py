"""The keypairs' read model."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.keypairs import KeypairsView

RESOURCE = ProjectionResource("keypair", (KeypairsView,))
