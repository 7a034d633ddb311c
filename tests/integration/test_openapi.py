"""/openapi.json describes every route, from the models that validate bodies."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import ApiState, accepts, parse_body


def _get(app: Starlette, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get(path)

    return asyncio.run(go())


def test_every_route_and_method_is_in_the_document_with_its_body(
    api: tuple[Starlette, ApiState],
) -> None:
    app, _ = api
    doc = _get(app, "/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {
        (m, re.sub(r"{(\w+):\w+}", r"{\1}", r.path))  # OpenAPI has no converters
        for r in app.routes
        if isinstance(r, Route) and r.path != "/openapi.json"
        for m in (r.methods or set()) - {"HEAD"}
    }
    assert documented == served
    create = doc["paths"]["/compute/v2.1/servers"]["post"]["requestBody"]
    assert create["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateServer"
    }
    server = doc["components"]["schemas"]["ServerSpec"]
    assert server["properties"]["name"]["maxLength"] == 255  # from the pydantic model
    assert doc["paths"]["/identity/v3/auth/tokens"]["post"]["security"] == []


class Declared(BaseModel):
    a: int


class Other(BaseModel):
    b: int


def test_a_route_reading_a_body_it_did_not_declare_fails_loudly() -> None:
    @accepts(Declared)
    async def endpoint(request: Request) -> Response:
        await parse_body(request, Other)
        return Response()

    app = Starlette(routes=[Route("/x", endpoint, methods=["POST"])])

    async def go() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/x", json={"b": 1})

    with pytest.raises(RuntimeError, match="does not declare"):
        asyncio.run(go())
