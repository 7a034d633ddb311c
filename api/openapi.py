"""``/openapi.json``: an OpenAPI 3.1 document of every route of the app,
built from the routes themselves and the pydantic models that validate
their bodies (declared with ``@accepts``, enforced by ``parse_body``), so
it cannot drift from what the API does."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.routing import Route

from api.registry import ApiTables, tables
from api.responses import JSONResponse

# Image data, not JSON.
STREAMED_BODIES = {("PUT", "/image/v2/images/{id}/file"), ("PUT", "/image/v2/images/{id}/stage")}
DOWNLOADS = {("GET", "/image/v2/images/{id}/file")}
# Prometheus's text format (api/metrics.py).
TEXT_ANSWERS = {("GET", "/metrics")}
# Nova answers these 200 with an empty body.
EMPTY_OK = {
    ("DELETE", "/compute/v2.1/os-aggregates/{id}"),
    ("DELETE", "/compute/v2.1/flavors/{id}/os-extra_specs/{key}"),
}
# Bodies in a media type of their own (Glance's JSON-patch).
MEDIA_TYPES = {("PATCH", "/image/v2/images/{id}"): "application/openstack-images-v2.1-json-patch"}
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def _body(models: tuple[type[BaseModel], ...], components: dict[str, Any]) -> dict[str, Any]:
    schemas = []
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        schemas.append({"$ref": f"#/components/schemas/{model.__name__}"})
    chosen = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    return {"required": True, "content": {"application/json": {"schema": chosen}}}


def _operation(
    route: Route, method: str, components: dict[str, Any], public: frozenset[tuple[str, str]]
) -> dict[str, Any]:
    endpoint = route.endpoint
    module = endpoint.__module__.rsplit(".", 1)[-1]
    operation: dict[str, Any] = {
        "operationId": f"{module}.{endpoint.__name__}.{method.lower()}",
        "tags": [module],
        "summary": (endpoint.__doc__ or endpoint.__name__).strip().splitlines()[0],
        "parameters": [
            *(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PARAM.findall(route.path)
            ),
            # Query parameters a route declares (``endpoint.query_parameters``).
            *(
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in getattr(endpoint, "query_parameters", ())
            ),
        ],
        "responses": {
            "default": {
                "description": "The OpenStack answer, or an OpenStack error body",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            # Accepted or done, with no body (as deletes and most actions answer).
            "202": {"description": "Accepted"},
            "204": {"description": "Done; no body"},
        },
    }
    if (method, route.path) in EMPTY_OK:
        operation["responses"]["200"] = {"description": "Done; no body"}
    if (method, route.path) in DOWNLOADS:
        binary = {"schema": {"type": "string", "format": "binary"}}
        operation["responses"]["200"] = {
            "description": "The image data",
            "content": {"application/octet-stream": binary},
        }
        operation["responses"]["206"] = {
            "description": "The bytes of the one range asked for",
            "content": {"application/octet-stream": binary},
        }
        operation["parameters"].append(
            {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"}}
        )
    if (method, route.path) in TEXT_ANSWERS:
        operation["responses"]["200"] = {
            "description": "Prometheus's text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    if (method, route.path) in public:  # version discovery, logging in
        operation["security"] = []
    models = getattr(endpoint, "body_models", ())
    if models:
        operation["requestBody"] = _body(models, components)
        media_type = MEDIA_TYPES.get((method, route.path))
        if media_type:
            content = operation["requestBody"]["content"]
            content[media_type] = content.pop("application/json")
    elif (method, route.path) in STREAMED_BODIES:
        binary = {"schema": {"type": "string", "format": "binary"}}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/octet-stream": binary},
        }
    return operation


def document(routes: Sequence[Any], declared: ApiTables) -> dict[str, Any]:
    """The document of ``routes``, with the services and the routes that
    answer without a token as the resources declare them."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, Route) or route.path == "/openapi.json":
            continue
        # Starlette's converters ({path:path}) are not OpenAPI's.
        path = _PARAM.sub(lambda m: "{" + m[1] + "}", route.path)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            operation = _operation(route, method, components, declared.public)
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cloudledger",
            "version": "1",
            "description": f"{_listed([s.title for s in declared.services])}, as OpenStack"
            " clients use them.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}
            },
        },
        "security": [{"token": []}],
    }


def _listed(names: list[str]) -> str:
    return " and ".join(filter(None, [", ".join(names[:-1]), *names[-1:]]))


async def openapi(request: Request) -> JSONResponse:
    cached: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if cached is None:
        cached = request.app.state.openapi = document(request.app.routes, tables())
    return JSONResponse(cached)


routes = [Route("/openapi.json", openapi, methods=["GET"])]
