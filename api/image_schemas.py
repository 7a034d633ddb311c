"""Glance's JSON schemas (``GET /v2/schemas/image`` and friends): what the
image and member documents of this API hold. Image bodies name them in their
``schema`` field; glanceclient and tempest read them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from api.context import authorize
from api.responses import JSONResponse
from domain.image import CONTAINER_FORMATS, DISK_FORMATS, VISIBILITIES

IMAGE_STATUSES = ("queued", "saving", "active", "killed", "deleted", "uploading", "importing",
                  "pending_delete", "deactivated")  # fmt: skip
MEMBER_STATUSES = ("pending", "accepted", "rejected")


def _text(max_length: int | None = None, *, null: bool = False, read_only: bool = False) -> Any:
    schema: dict[str, Any] = {"type": ["null", "string"] if null else "string"}
    if max_length:
        schema["maxLength"] = max_length
    if read_only:
        schema["readOnly"] = True
    return schema


def _image() -> dict[str, Any]:
    read_only_int = {"type": ["null", "integer"], "readOnly": True}
    properties = {
        "id": {"type": "string", "pattern": "^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"},
        "name": _text(255, null=True),
        "status": {"type": "string", "readOnly": True, "enum": list(IMAGE_STATUSES)},
        "visibility": {"type": "string", "enum": list(VISIBILITIES)},
        "protected": {"type": "boolean"},
        "os_hidden": {"type": "boolean"},
        "checksum": _text(32, null=True, read_only=True),
        "os_hash_algo": _text(64, null=True, read_only=True),
        "os_hash_value": _text(128, null=True, read_only=True),
        "owner": _text(255, null=True),
        "size": read_only_int,
        "virtual_size": read_only_int,
        "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS]},
        "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS]},
        "created_at": _text(read_only=True),
        "updated_at": _text(read_only=True),
        "tags": {"type": "array", "items": _text(255)},
        "min_ram": {"type": "integer"},
        "min_disk": {"type": "integer"},
        "self": _text(read_only=True),
        "file": _text(read_only=True),
        "schema": _text(read_only=True),
    }
    return {
        "name": "image",
        "properties": properties,
        "additionalProperties": {"type": "string"},  # an image's own properties
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def _member() -> dict[str, Any]:
    return {
        "name": "member",
        "properties": {
            "member_id": _text(255),
            "image_id": _text(),
            "status": {"type": "string", "enum": list(MEMBER_STATUSES)},
            "created_at": _text(),
            "updated_at": _text(),
            "schema": _text(read_only=True),
        },
    }


def _collection(name: str, item: dict[str, Any], links: list[dict[str, str]]) -> dict[str, Any]:
    properties: dict[str, Any] = {name: {"type": "array", "items": item}, "schema": _text()}
    if name == "images":
        properties |= {"first": _text(), "next": _text()}
    return {"name": name, "properties": properties, "links": links}


SCHEMAS: dict[str, dict[str, Any]] = {
    "image": _image(),
    "images": _collection(
        "images",
        _image(),
        [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    ),
    "member": _member(),
    "members": _collection("members", _member(), [{"rel": "describedby", "href": "{schema}"}]),
}


async def schema(request: Request) -> JSONResponse:
    authorize(request, "image:get_images")  # as Glance, a token is needed
    return JSONResponse(SCHEMAS[request.url.path.rsplit("/", 1)[1]])


routes = [
    Route(f"/image/v2/schemas/{name}", schema, methods=["GET"], name=f"schema-{name}")
    for name in SCHEMAS
]
