"""Glance's older image patch, ``application/openstack-images-v2.0-json-patch``
(JSON-patch draft 4: ``{"replace": "/name", "value": ...}``), as the RFC 6902
operations the newer media type sends, so one code path applies both."""

from __future__ import annotations

from typing import Any

from domain.errors import InvalidInput

OPERATIONS = ("add", "remove", "replace")


def as_rfc6902(doc: Any) -> Any:
    """Each draft-4 operation as ``{"op", "path"[, "value"]}``; anything that is
    not a list of objects is passed on for the common checks to refuse."""
    if not isinstance(doc, list):
        return doc
    return [_operation(op) if isinstance(op, dict) else op for op in doc]


def _operation(raw: dict[str, Any]) -> dict[str, Any]:
    named = [op for op in OPERATIONS if op in raw]
    if len(named) != 1 or "op" in raw or "path" in raw:
        raise InvalidInput(
            'Operation objects must contain exactly one member named "add", "remove", or "replace".'
        )
    (op,) = named
    change = {"op": op, "path": raw[op]}
    if "value" in raw:
        change["value"] = raw["value"]
    return change
