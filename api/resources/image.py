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
from api.declarations import ApiResource, CatalogEntry, Rule, Service
from api.policy import ADMIN, MEMBER, READER

POLICY: dict[str, str | Rule] = {
    "image:add_image": MEMBER,
    "image:publicize_image": ADMIN,
    "image:upload_image": Rule(f"{MEMBER} or rule:service_api", "hosts upload snapshots"),
    "image:import_image": MEMBER,
    "image:download_image": Rule(f"{READER} or rule:service_api", "compute hosts fetch images"),
    "image:download_image:any_project": "rule:admin_api or rule:service_api",
    "image:get_images": READER,
    "image:get_image": READER,
    "image:delete_image": MEMBER,
    "image:modify_image": MEMBER,
    "image:communitize_image": Rule(MEMBER, "Glance's: the owner may"),
    "image:deactivate": ADMIN,
    "image:reactivate": ADMIN,
    "image:add_member": MEMBER,
    "image:get_members": READER,
    "image:get_member": READER,
    "image:modify_member": MEMBER,
    "image:delete_member": MEMBER,
}

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
    policy=POLICY,
    public=("GET /image", "GET /image/", "GET /image/versions"),
    service=Service("/image", "Image v2", catalog=(CatalogEntry("image", "glance", "/image"),)),
)
