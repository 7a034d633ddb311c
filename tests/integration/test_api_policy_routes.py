"""Every route of the API asks the policy before it does anything (apart
from the few that must work without a token)."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from api.context import ApiState
from api.policy import ACTIONS

PUBLIC = {
    ("GET", "/identity"),
    ("GET", "/identity/"),
    ("GET", "/identity/v3"),
    ("GET", "/identity/v3/"),
    ("POST", "/identity/v3/auth/tokens"),  # logging in
    ("GET", "/image"),
    ("GET", "/image/"),
    ("GET", "/image/versions"),
    ("GET", "/compute"),
    ("GET", "/compute/"),
    ("GET", "/compute/v2.1"),
    ("GET", "/compute/v2.1/"),
    ("GET", "/compute/v2"),  # Nova's legacy v2.0 version document
    ("GET", "/compute/v2/"),
    ("GET", "/openapi.json"),  # the API's own description
    ("GET", "/networking"),
    ("GET", "/networking/"),
    ("GET", "/networking/v2.0"),
    ("GET", "/networking/v2.0/"),
    ("GET", "/volume"),  # Block Storage's version documents
    ("GET", "/volume/"),
    ("GET", "/volume/v3"),
    ("GET", "/volume/v3/"),
}
# Any valid token may ask which projects and domains it can scope to (rule "@").
ANY_TOKEN = {
    ("GET", "/identity/v3/auth/projects"),
    ("GET", "/identity/v3/auth/domains"),
    ("GET", "/identity/v3/auth/catalog"),  # the token's own catalog, as Keystone's
}
SOME_ID = "00000000-0000-4000-8000-000000000001"
BODIES = {
    "/compute/v2.1/servers/{id}/action": {"os-stop": None},
    "/compute/v2.1/flavors/{id}/action": {"addTenantAccess": {"tenant": "p1"}},
    "/compute/v2.1/os-aggregates/{id}/action": {"add_host": {"host": "h1"}},
}


def _routes(app: Starlette) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        assert isinstance(route, Route)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                found.append((method, route.path))
    return found


async def _answers(app: Starlette, api_state: ApiState) -> dict[tuple[str, str], int]:
    token, _ = api_state.tokens.issue("u1", "nobody", "p1", "demo", ())  # no role at all
    # Validating or revoking someone else's token is refused too.
    others, _ = api_state.tokens.issue("u2", "other", "p1", "demo", ("member",))
    transport = httpx.ASGITransport(app=app)
    answers = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for method, path in _routes(app):
            if (method, path) in PUBLIC | ANY_TOKEN:
                continue
            # The caller's own project: another's would be 404, as if it did not exist.
            own = path.startswith("/identity/v3/projects/")
            url = path.replace("{id}", "p1" if own else SOME_ID).replace("{project_id}", "p1")
            headers = {"X-Auth-Token": token, "X-Subject-Token": others}
            response = await client.request(method, url, headers=headers, json=BODIES.get(path, {}))
            answers[method, path] = response.status_code
    return answers


def test_every_route_but_the_public_ones_is_refused_to_a_token_without_roles(
    api: tuple[Starlette, ApiState],
) -> None:
    app, api_state = api
    answers = asyncio.run(_answers(app, api_state))
    assert len(answers) >= 20  # the routes were found
    assert {route: code for route, code in answers.items() if code != 403} == {}


def test_the_routes_open_to_any_token_say_so_in_their_rule() -> None:
    assert {
        ACTIONS["identity:get_auth_projects"],
        ACTIONS["identity:get_auth_domains"],
        ACTIONS["identity:get_auth_catalog"],
    } == {"@"}
