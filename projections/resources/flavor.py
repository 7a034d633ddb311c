"""The Flavor's read model."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.flavors import FlavorsView

RESOURCE = ProjectionResource("flavor", (FlavorsView,))
