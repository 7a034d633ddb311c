"""Image v2: images, their data, imports, patches, members and schemas, and
the compute API's image proxy."""

from __future__ import annotations

from api import (
    compute_images,
    image_data,
    image_import,
    image_members,
    image_patch,
    image_schemas,
    images,
)
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "image",
    [
        *compute_images.routes,
        *images.routes,
        *image_data.routes,
        *image_import.routes,
        *image_patch.routes,
        *image_members.routes,
        *image_schemas.routes,
    ],
)
