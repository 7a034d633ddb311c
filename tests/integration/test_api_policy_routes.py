"""Every route of the API asks the policy before it does anything (apart
from the few its resource declares public, which must work without a
token), and the rule it asks is one its own resource declares."""

from __future__ import annotations

import asyncio
import re

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from api.context import ApiState
from api.registry import tables

TABLES = tables()
PUBLIC = TABLES.public
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


# The metadata service answers the proxies on the hosts, by their signature.
SIGNED = {("GET", "/metadata"), ("GET", "/metadata/{path:path}")}
_REFUSED = re.compile(r"Policy doesn't allow (\S+) to be performed")


async def _answers(
    app: Starlette, api_state: ApiState
) -> dict[tuple[str, str], tuple[int, list[str]]]:
    """Each route's status and the rules its refusal names, to a token
    without roles."""
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
            answers[method, path] = response.status_code, _REFUSED.findall(response.text)
    return answers


def test_every_route_but_the_public_ones_is_refused_to_a_token_without_roles(
    api: tuple[Starlette, ApiState],
) -> None:
    app, api_state = api
    answers = asyncio.run(_answers(app, api_state))
    assert len(answers) >= 20  # the routes were found
    assert {route: code for route, (code, _) in answers.items() if code != 403} == {}
    # Each names the rule it asked, one of its own resource's.
    owner = {
        (method, route.path): resource
        for resource in TABLES.resources
        for route in resource.routes
        if isinstance(route, Route)
        for method in route.methods or {"GET"}
    }
    foreign = {
        route: rules
        for route, (_, rules) in answers.items()
        if route not in SIGNED and (len(rules) != 1 or rules[0] not in owner[route].policy)
    }
    assert foreign == {}


def test_the_public_routes_answer_without_a_token(api: tuple[Starlette, ApiState]) -> None:
    app, _ = api

    async def answer() -> dict[tuple[str, str], int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return {
                (method, path): (await client.request(method, path)).status_code
                for method, path in PUBLIC
                if method == "GET"
            }

    answers = asyncio.run(answer())
    assert {route: code for route, code in answers.items() if code not in (200, 300)} == {}
    assert {m for m, _ in PUBLIC} == {"GET", "POST"}  # and logging in
    assert {p for m, p in PUBLIC if m == "POST"} == {"/identity/v3/auth/tokens"}


def test_the_routes_open_to_any_token_say_so_in_their_rule() -> None:
    assert {
        TABLES.policy["identity:get_auth_projects"].check,
        TABLES.policy["identity:get_auth_domains"].check,
        TABLES.policy["identity:get_auth_catalog"].check,
    } == {"@"}
