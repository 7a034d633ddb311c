"""Image v2: images, their data, imports, patches and members."""

from __future__ import annotations

from api import image_data, image_import, image_members, image_patch, images
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "image",
    [
        *images.routes,
        *image_data.routes,
        *image_import.routes,
        *image_patch.routes,
        *image_members.routes,
    ],
)
