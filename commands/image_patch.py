"""Glance's JSON-patch on an image (media type
``application/openstack-images-v2.1-json-patch``): which paths may be
touched, and what a patch changes. The patch itself is applied by the
``jsonpatch`` library to the image as its owner sees it."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

from domain.errors import Conflict, Forbidden, InvalidInput
from domain.image import MUTABLE_CORE, Image
from domain.property_protections import PropertyProtections
from domain.values import Actor

OPERATIONS = ("add", "replace", "remove")
# Glance answers 403 "is read-only" for these.
READ_ONLY = frozenset(
    {
        "id",
        "status",
        "size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "created_at",
        "updated_at",
        "file",
        "schema",
        "self",
        "virtual_size",
        "direct_url",
        "locations",
    }
)
RESERVED = frozenset({"deleted", "deleted_at", "location"})


@dataclass
class Change:
    """What a patch does to an image, ready for ``Image.update``."""

    core: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def checked_document(doc: Any) -> list[dict[str, Any]]:
    """The patch as a list of operations, or 400 naming what is wrong."""
    if not isinstance(doc, list):
        raise InvalidInput("Request body must be a JSON array of operation objects.")
    ops = []
    for op in doc:
        if not isinstance(op, dict):
            raise InvalidInput("Operations must be JSON objects.")
        if op.get("op") not in OPERATIONS:
            raise InvalidInput(
                f"Operation objects must contain exactly one member named "
                f'"op" with one of: {", ".join(OPERATIONS)}'
            )
        if not isinstance(op.get("path"), str):
            raise InvalidInput('Unable to find "path" in JSON Schema change')
        if op["op"] != "remove" and "value" not in op:
            raise InvalidInput(f'Operation "{op["op"]}" requires a member named "value".')
        ops.append({k: op[k] for k in ("op", "path", "value") if k in op})
    return ops


def _root(op: dict[str, Any], is_admin: bool) -> str:
    try:
        parts = jsonpointer.JsonPointer(op["path"]).parts
    except jsonpointer.JsonPointerException:
        raise InvalidInput(f"Invalid JSON pointer for this resource: '{op['path']}'") from None
    if not parts or not parts[0]:
        raise InvalidInput(f"Invalid JSON pointer for this resource: '{op['path']}'")
    root: str = parts[0]
    if root in READ_ONLY or (root == "owner" and not is_admin):
        raise Forbidden(f"Attribute '{root}' is read-only.")
    if root in RESERVED or root.startswith("os_glance"):
        raise Forbidden(f"Attribute '{root}' is reserved.")
    if len(parts) > 1 and root != "tags":
        raise InvalidInput(f"Invalid JSON pointer for this resource: '{op['path']}'")
    return root


def image_document(image: Image, readable: set[str]) -> dict[str, Any]:
    """The image's patchable fields, with the properties the caller may read."""
    doc: dict[str, Any] = {k: v for k, v in image.properties.items() if k in readable}
    for key in MUTABLE_CORE:
        value = getattr(image, key)
        doc[key] = list(value) if key == "tags" else value
    return doc


def _apply(doc: dict[str, Any], op: dict[str, Any], root: str) -> dict[str, Any]:
    whole = op["path"] == f"/{jsonpointer.escape(root)}"
    if op["op"] == "remove" and whole and root in MUTABLE_CORE:
        raise Forbidden(f"Property {root} may not be removed.")
    if op["op"] != "add" and whole and root not in doc:
        raise Conflict(f"Property {root} does not exist.")
    try:
        # In place, on the caller's copy: a long patch does not copy the image per operation.
        patched: dict[str, Any] = jsonpatch.apply_patch(doc, [op], in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise InvalidInput(f"Unable to apply the patch: {exc}") from None
    return patched


def change_of(
    image: Image,
    ops: list[dict[str, Any]],
    actor: Actor,
    protections: PropertyProtections | None = None,
) -> Change:
    """What the patch changes; 400/403/409 before anything is recorded."""
    readable = {
        k for k in image.properties if protections is None or protections.allows(actor, "read", k)
    }
    before = image_document(image, readable)
    doc = copy.deepcopy(before)
    for op in ops:
        doc = _apply(doc, op, _root(op, actor.is_admin))
    change = Change()
    for key in MUTABLE_CORE:
        if doc[key] != before[key]:
            change.core[key] = "" if key == "name" and doc[key] is None else doc[key]
    for key, value in doc.items():
        if key in MUTABLE_CORE or before.get(key, object()) == value:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"Invalid value for property {key}: {value!r} is not a string")
        operation = "update" if key in before else "create"
        _guard(protections, actor, operation, key)
        change.properties[key] = value
    for key in before:
        if key not in MUTABLE_CORE and key not in doc:
            _guard(protections, actor, "delete", key)
            change.removed.append(key)
    return change


def check_new_properties(
    properties: Iterable[str], actor: Actor, protections: PropertyProtections | None = None
) -> None:
    """Glance's rules for the additional properties a user gives a new image
    (an image create, a server snapshot's metadata): 403 for a read-only or
    reserved name, or one the operator's property protections keep from the
    caller. One set of rules, so no way in skips them."""
    for key in properties:
        if key in READ_ONLY or key == "owner":
            raise Forbidden(f"Attribute '{key}' is read-only.")
        if key in RESERVED or key.startswith("os_glance"):
            raise Forbidden(f"Attribute '{key}' is reserved.")
        _guard(protections, actor, "create", key)


def _guard(protections: PropertyProtections | None, actor: Actor, operation: str, key: str) -> None:
    if protections is not None and not protections.allows(actor, operation, key):
        raise Forbidden(f"Property '{key}' is protected")
