"""The Image's read model."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.images import ImagesView

RESOURCE = ProjectionResource("image", (ImagesView,))
