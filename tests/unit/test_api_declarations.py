"""The API's central tables are derived from the resources' declarations
(api/resources/, api/registry.py): every rule a route asks is its own
resource's, no rule or service is declared twice, and the catalog, the
error shapes, the public operations and the microversions are what the
services declare."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import json
import re
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from api import errors, identity, openapi
from api.declarations import (
    ApiResource,
    CatalogEntry,
    MalformedVersion,
    Microversions,
    Rule,
    Service,
)
from api.error_shapes import ErrorShape
from api.negotiation import MicroversionMiddleware, negotiated
from api.policy import PolicyDenied
from api.registry import ApiTables, tables
from domain.errors import Conflict, InvalidTransition, NotFound, QuotaExceeded, Unauthorized
from domain.values import Actor

TABLES = tables()
NAMESPACES = {name.partition(":")[0] for name in TABLES.policy}
# Strings in a rule's namespace that are no rule.
NOT_RULES = {"identity:authenticate"}  # the audit trail's name of a refused login
_RULE_NAME = re.compile(r"[a-z_]+(:[a-z_]+)+")


def _rule_texts(resource: ApiResource) -> tuple[set[str], set[str]]:
    """The rule names its route modules spell out, and the prefixes of those
    they compose (``f"compute:servers:{verb}"``)."""
    literals: set[str] = set()
    prefixes: set[str] = set()
    for module in {r.endpoint.__module__ for r in resource.routes if isinstance(r, Route)}:
        tree = ast.parse(inspect.getsource(importlib.import_module(module)))
        composed = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.Constant):
                composed |= {id(v) for v in node.values}
                prefixes.add(str(node.values[0].value))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if id(node) not in composed and _RULE_NAME.fullmatch(text):
                    literals.add(text)
    in_namespace = lambda text: text.partition(":")[0] in NAMESPACES  # noqa: E731
    return (
        {t for t in literals if in_namespace(t)} - NOT_RULES,
        {p for p in prefixes if in_namespace(p) and ":" in p},
    )


@pytest.mark.parametrize("resource", TABLES.resources, ids=lambda r: r.name)
def test_every_rule_a_resources_routes_name_is_its_own(resource: ApiResource) -> None:
    literals, prefixes = _rule_texts(resource)
    own = set(resource.rules())
    assert {name: TABLES.owners.get(name) for name in literals - own} == {}
    assert {p for p in prefixes if not any(name.startswith(p) for name in own)} == set()


@pytest.mark.parametrize("resource", TABLES.resources, ids=lambda r: r.name)
def test_every_rule_a_resource_declares_is_asked_by_its_routes(resource: ApiResource) -> None:
    literals, prefixes = _rule_texts(resource)
    unasked = {
        n for n in resource.rules() if n not in literals and not n.startswith(tuple(prefixes))
    }
    assert unasked == set()


def test_the_policy_defaults_are_the_union_of_the_resources_rules() -> None:
    assert sum(len(r.policy) for r in TABLES.resources) == len(TABLES.policy) > 180
    assert TABLES.owners["compute:servers:create"] == "instance"
    assert TABLES.owners["compute:os_interface:create"] == "instance"
    assert TABLES.owners["network:create_port"] == "network"
    assert TABLES.policy["identity:get_auth_catalog"] == Rule(
        "@", "the caller's own token's catalog", project_scoped=False
    )


async def _nothing(request: Request) -> JSONResponse:
    return JSONResponse({})


def _resource(name: str, *rules: str, **more: Any) -> ApiResource:
    routes = [Route(f"/{name}", _nothing), Route(f"/{name}/v1/", _nothing)]
    return ApiResource(name, routes, policy={r: "@" for r in rules}, **more)


def test_two_resources_cannot_declare_one_rule() -> None:
    with pytest.raises(ValueError, match="widget:make declared by widget and gadget"):
        ApiTables.of([_resource("widget", "widget:make"), _resource("gadget", "widget:make")])


def test_a_public_route_must_be_the_resources_own() -> None:
    with pytest.raises(ValueError, match="GET /gadget is public but no route of it"):
        ApiTables.of([_resource("widget", public=("GET /gadget",))])
    found = ApiTables.of([_resource("widget", public=("GET /widget",))])
    assert found.public == {("GET", "/widget")}


@pytest.mark.parametrize(
    ("one", "other", "what"),
    [
        (Service("/widget", "W"), Service("/widget", "G"), "prefix /widget"),
        (
            Service("/widget", "W", catalog=(CatalogEntry("workshop", "w", "/widget"),)),
            Service("/gadget", "G", catalog=(CatalogEntry("workshop", "g", "/gadget"),)),
            "catalog type workshop",
        ),
        (
            Service(
                "/widget", "W", microversions=Microversions("shop", "/widget/", (1, 0), (1, 1))
            ),
            Service(
                "/gadget", "G", microversions=Microversions("shop", "/gadget/", (1, 0), (1, 1))
            ),
            "microversion header shop",
        ),
    ],
)
def test_two_services_cannot_declare_one(one: Service, other: Service, what: str) -> None:
    with pytest.raises(ValueError, match=f"two services declare the {what}"):
        ApiTables.of([_resource("widget", service=one), _resource("gadget", service=other)])


def test_the_catalog_is_each_services_entries_identity_first() -> None:
    entries = identity.catalog_of(TABLES.services, "http://api", "p1")
    assert [(e["type"], e["name"], e["endpoints"][0]["url"]) for e in entries] == [
        ("identity", "keystone", "http://api/identity"),
        ("compute", "nova", "http://api/compute/v2.1"),
        ("image", "glance", "http://api/image"),
        ("network", "neutron", "http://api/networking"),
        ("block-storage", "cinder", "http://api/volume/v3/p1"),  # Cinder's name the project
        ("volumev3", "cinderv3", "http://api/volume/v3/p1"),
    ]
    assert entries[1] == {
        "id": "nova-service",
        "type": "compute",
        "name": "nova",
        "endpoints": [
            {
                "id": "nova-public",
                "interface": "public",
                "region": "RegionOne",
                "region_id": "RegionOne",
                "url": "http://api/compute/v2.1",
            }
        ],
    }
    assert identity.catalog_of(TABLES.services, "http://api", "") == entries[:4]


def test_an_entry_that_names_the_project_is_only_in_a_project_tokens_catalog() -> None:
    storage = Service(
        "/volume",
        "Block Storage v3",
        catalog=(
            CatalogEntry("block-storage", "cinder", "/volume/v3/{project_id}"),
            CatalogEntry("volume-versions", "cinder-versions", "/volume"),
        ),
    )
    with_project = identity.catalog_of([storage], "http://api", "p1")
    assert [e["endpoints"][0]["url"] for e in with_project] == [
        "http://api/volume/v3/p1",
        "http://api/volume",
    ]
    assert [e["type"] for e in identity.catalog_of([storage], "http://api", "")] == [
        "volume-versions"
    ]


def _request(path: str, *headers: tuple[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers]
    return Request({"type": "http", "method": "GET", "path": path, "headers": raw})


def _answer(path: str, exc: Exception) -> tuple[int, Any, str | None]:
    response = asyncio.run(errors.domain_error(_request(path), exc))
    return response.status_code, json.loads(response.body), response.headers.get("www-authenticate")


def test_an_error_takes_the_shape_of_the_service_its_path_is_under() -> None:
    missing = NotFound("No such thing")
    assert _answer("/identity/v3/users/x", missing)[1] == {
        "error": {"code": 404, "message": "No such thing", "title": "Not Found"}
    }
    neutron = {"NeutronError": {"type": "HTTPNotFound", "message": "No such thing", "detail": ""}}
    assert _answer("/networking/v2.0/ports/x", missing)[1] == neutron
    nova = {"itemNotFound": {"code": 404, "message": "No such thing"}}
    for elsewhere in ("/compute/v2.1/servers/x", "/image/v2/images/x", "/metrics", "/nowhere"):
        assert _answer(elsewhere, missing)[1] == nova
    assert _answer("/networkingx", missing)[1] == nova  # a prefix is a whole segment


def test_a_services_shape_may_answer_an_error_with_its_own_status() -> None:
    quota = QuotaExceeded("ram", 1, 2, 3)
    assert _answer("/compute/v2.1/servers", quota)[0] == 403
    status, body, _ = _answer("/networking/v2.0/ports", quota)
    assert (status, body["NeutronError"]["type"]) == (409, "OverQuota")
    denied = PolicyDenied("network:create_port", Actor("u", "p", (), "r"))
    assert _answer("/networking/v2.0/ports", denied)[1]["NeutronError"]["type"] == (
        "PolicyNotAuthorized"
    )


def test_a_shape_of_novas_kind_with_its_own_names_and_statuses() -> None:
    cinder = ErrorShape(
        names={413: "overLimit", 400: "badRequest"},
        statuses=[(QuotaExceeded, 413), (InvalidTransition, 400)],
    )
    assert cinder.answer(QuotaExceeded("gigabytes", 1, 2, 3), 403)[0] == 413
    assert cinder.answer(InvalidTransition("volume v", "in-use", "delete"), 409) == (
        400,
        {"badRequest": {"code": 400, "message": "Cannot 'delete' volume v while it is in in-use"}},
    )
    assert cinder.answer(Conflict("taken"), 409) == (
        409,
        {"computeFault": {"code": 409, "message": "taken"}},  # a status it names not
    )


def test_every_service_challenges_a_401_as_keystonemiddleware_does() -> None:
    for path in ("/identity/v3/auth/tokens", "/compute/v2.1/servers", "/networking/v2.0/ports"):
        status, _, challenge = _answer(path, Unauthorized("Who are you?"))
        assert (status, challenge) == (401, 'Keystone uri="/identity"')


def test_the_openapi_document_marks_the_declared_public_operations() -> None:
    document = openapi.document(TABLES.routes, TABLES)
    public = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == []
    }
    assert public == TABLES.public - {("GET", "/openapi.json")}  # the document is not in itself
    assert ("POST", "/identity/v3/auth/tokens") in public
    assert ("GET", "/compute/v2/") in public  # Nova's legacy version document
    assert document["info"]["description"] == (
        "Identity v3, Compute v2.1, Image v2, Networking v2.0 and Block Storage v3,"
        " as OpenStack clients use them."
    )


# A service of block storage's kind: its own header, range and refusal.
VOLUME = Microversions(
    "volume",
    "/volume/v3/",
    (3, 0),
    (3, 70),
    malformed="Invalid API version string {value!r}: it must be MajorNum.MinorNum.",
)
COMPUTE = Microversions(
    "compute",
    "/compute/v2.1/",
    (2, 1),
    (2, 52),
    legacy_header="X-OpenStack-Nova-API-Version",
    legacy_prefix="/compute/v2/",
)


async def _served_at(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope)
    found = {m.header: list(negotiated(request, m)) for m in (VOLUME, COMPUTE)}
    await JSONResponse({"path": scope["path"], **found})(scope, receive, send)


def _through(path: str, *headers: tuple[str, str]) -> tuple[int, dict[str, str], Any]:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = _request(path, *headers).scope | {"raw_path": path.encode()}
    asyncio.run(MicroversionMiddleware(_served_at, [COMPUTE, VOLUME])(scope, receive, send))
    echoed = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], echoed, json.loads(sent[1]["body"])


def test_each_service_negotiates_its_own_microversions() -> None:
    both = ("OpenStack-API-Version", "compute 2.20, volume 3.44")
    status, echoed, body = _through("/volume/v3/p1/volumes", both)
    assert (status, body["volume"]) == (200, [3, 44])
    assert echoed["openstack-api-version"] == "volume 3.44"
    assert echoed["vary"] == "OpenStack-API-Version"
    status, echoed, body = _through("/compute/v2.1/servers", both)
    assert (body["compute"], echoed["openstack-api-version"]) == ([2, 20], "compute 2.20")
    assert echoed["x-openstack-nova-api-version"] == "2.20"
    assert _through("/volume/v3/p1/volumes")[2]["volume"] == [3, 0]  # none asked: the minimum
    latest = ("OpenStack-API-Version", "volume latest")
    assert _through("/volume/v3/", latest)[2]["volume"] == [3, 70]


def test_a_version_out_of_a_services_range_or_malformed_is_refused_in_its_words() -> None:
    status, _, body = _through("/volume/v3/p1/volumes", ("OpenStack-API-Version", "volume 3.71"))
    assert status == 406
    assert "Minimum is 3.0 and maximum is 3.70." in json.dumps(body)
    status, _, body = _through("/volume/v3/p1/volumes", ("OpenStack-API-Version", "volume 3.x"))
    assert status == 400
    assert "Invalid API version string '3.x': it must be MajorNum.MinorNum." in json.dumps(body)
    # Compute's legacy header says nothing to block storage.
    assert _through("/volume/v3/", ("X-OpenStack-Nova-API-Version", "2.99"))[0] == 200


def test_a_legacy_endpoint_is_served_as_the_current_one_at_the_minimum() -> None:
    asked = ("OpenStack-API-Version", "compute 2.40")
    status, echoed, body = _through("/compute/v2/servers", asked)
    assert (status, body["path"], body["compute"]) == (200, "/compute/v2.1/servers", [2, 1])
    assert "openstack-api-version" not in echoed


def test_a_path_of_no_negotiating_service_is_left_alone() -> None:
    status, echoed, body = _through("/image/v2/images", ("OpenStack-API-Version", "compute 9.9"))
    assert (status, body["path"]) == (200, "/image/v2/images")
    assert "openstack-api-version" not in echoed
    with pytest.raises(MalformedVersion):
        VOLUME.parse({"openstack-api-version": "volume ².1"})
