"""A resource added from outside the tree (tests/plugin_widget/: an
aggregate, a transcoding, a view, a queue family with a role and a job,
and an API of its own: routes under policy rules of their own, a catalog
entry, version documents, an error shape and microversions) is served end
to end by the real stack with nothing of cloudledger's edited: named in
CLOUDLEDGER_RESOURCES, `cloudledger run` starts its worker role, the schema
has its table, the API answers its routes with its policy, the relay owes
its job, its worker runs it on the common harness, and the projector shows
the outcome, read-your-writes included."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import psycopg
import pytest
from e2e.helpers import Stack, auth_body, running_stack
from eventsourcing.persistence import JSONTranscoder

from commands.app import CloudApp
from commands.bootstrap import build_services, eventsourcing_env
from commands.identity import CreateProject, CreateUser
from domain.values import SYSTEM
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.plugin_widget"
WORKSHOP = "/workshop/v1"
AT_1_2 = {"OpenStack-API-Version": "workshop 1.2"}


def _plugin(layer: str) -> ModuleType:
    """A module of the plugin, importable as the processes import it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"{PLUGIN}.{layer}")


class PluginApp(CloudApp):
    """This process's application, with the plugin's transcoding (this test
    process imported cloudledger before the plugin was named)."""

    name = CloudApp.name  # the same tables

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(_plugin("commands").FinishAsDict())


def _python(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def stack(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    """`cloudledger run` with the plugin named: its own worker role among
    the others, its table, its routes."""
    named = {"CLOUDLEDGER_RESOURCES": PLUGIN, "PYTHONPATH": str(ROOT)}
    redis_url = redis_server.url()
    with running_stack(pg_cluster, template_database, redis_url, "all", named, hosts=1) as up:
        yield up


class Client:
    """Someone logged in to the stack, with their project."""

    def __init__(self, stack: Stack, user: str, password: str, project: str) -> None:
        response = httpx.post(
            f"{stack.url}/identity/v3/auth/tokens", json=auth_body(user, password, project)
        )
        assert response.status_code == 201, response.text
        self.token = response.json()["token"]
        self.project = self.token["project"]["id"]
        self.http = httpx.Client(
            base_url=stack.url, headers={"X-Auth-Token": response.headers["X-Subject-Token"]}
        )

    def widgets(self, project: str | None = None) -> str:
        return f"{WORKSHOP}/{project or self.project}/widgets"


def _people(stack: Stack, *roles: str) -> list[Client]:
    """One user per role in a fresh project of their own, logged in."""
    suffix = uuid.uuid4().hex[:8]
    project, password = f"workshop-{suffix}", f"pw-{suffix}"
    services = build_services(stack.settings(), pool_size=1)
    try:
        services.create_project(CreateProject(project), SYSTEM)
        for role in roles:
            services.create_user(CreateUser(f"{role}-{suffix}", password, project, (role,)), SYSTEM)
    finally:
        services.app.close()
    return [Client(stack, f"{role}-{suffix}", password, project) for role in roles]


def _widget_count(stack: Stack) -> int:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM widgets").fetchone()
    assert row is not None
    return int(row[0])


def _fault(response: httpx.Response, status: int) -> str:
    """The reason of an error in the workshop's own shape."""
    assert response.status_code == status, response.text
    fault = response.json()["workshopFault"]
    assert fault["status"] == status
    return str(fault["reason"])


def _until_polished(client: Client, widget_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = client.http.get(f"{client.widgets()}/{widget_id}", headers=AT_1_2)
        assert shown.status_code == 200, shown.text
        if shown.json()["widget"]["state"] == "polished":
            return dict(shown.json()["widget"])
        time.sleep(0.1)
    raise AssertionError(f"widget {widget_id} was not polished within 30 s")


def test_the_plugin_is_in_every_derived_list() -> None:
    env = {**os.environ, "CLOUDLEDGER_RESOURCES": PLUGIN, "PYTHONPATH": str(ROOT)}
    found = _python(
        env,
        "from workers import routes; from projections.registry import VIEW_CLASSES;"
        " from projections.audit import TYPES; from domain.quota import DEFAULT_LIMITS;"
        " from workers.dispatch import Relay; from tests.plugin_widget.domain import Widget;"
        " from eventsourcing.utils import get_topic; from api.registry import tables;"
        " from api.policy import Policy;"
        " t = tables();"
        " print([r.name for r in routes.ROLES], [r.kind for r in routes.ROUTES][-1],"
        " VIEW_CLASSES[-1].name, 'widget' in TYPES, DEFAULT_LIMITS['widgets'],"
        " get_topic(Widget.Requested) in Relay.topics,"
        " t.owners['workshop:widgets:create'], [s.prefix for s in t.services][-1],"
        " Policy().knows('workshop:widgets:show'))",
    )
    assert found.split() == [
        "['scheduler',",
        "'compute',",
        "'network',",  # networking's roles, then block storage's
        "'network_node',",
        "'volume',",
        "'workshop']",
        "widget.polish",
        "widgets",
        "True",
        "5",
        "True",
        "widget",
        "/workshop",
        "True",
    ]


def test_the_api_serves_it_under_its_own_rules_and_the_worker_polishes_it(
    stack: Stack,
) -> None:
    member, reader = _people(stack, "member", "reader")
    # Its catalog entry, with the project in its URL as Cinder's.
    catalog = {entry["type"]: entry for entry in member.token["catalog"]}
    endpoint = catalog["workshop"]["endpoints"][0]["url"]
    assert endpoint == f"{stack.url}{WORKSHOP}/{member.project}"
    # Its version documents answer without a token.
    versions = httpx.get(f"{stack.url}/workshop").json()["versions"]
    assert [(v["min_version"], v["version"]) for v in versions] == [("1.0", "1.2")]

    made = member.http.post(
        member.widgets(),
        json={"widget": {"name": "w1", "finish": {"kind": "wax", "coats": 2}}},
        headers=AT_1_2,
    )
    assert made.status_code == 202, made.text
    assert made.headers["OpenStack-API-Version"] == "workshop 1.2"
    widget = made.json()["widget"]
    assert widget["name"] == "w1"
    assert widget["finish"] == "2 coats of wax"
    # Read-your-writes: what the answer said is what a GET shows at once.
    shown = member.http.get(f"{member.widgets()}/{widget['id']}", headers=AT_1_2)
    assert shown.status_code == 200, shown.text
    assert shown.json()["widget"]["state"] in ("requested", "polished")
    # The relay owed the worker its job; the projector showed its outcome.
    assert _until_polished(member, widget["id"]) == {**widget, "state": "polished"}
    # A reader reads it too, before 1.2 without its finish.
    plain = reader.http.get(f"{reader.widgets()}/{widget['id']}")
    assert plain.json()["widget"] == {"id": widget["id"], "name": "w1", "state": "polished"}
    assert plain.headers["OpenStack-API-Version"] == "workshop 1.0"
    # The relay settles what it owed for this widget. Only this widget's
    # rows: the stack's seeded network has jobs of its own in flight.
    assert _owed_for(stack, widget["id"]) == 0


def _owed_for(stack: Stack, aggregate_id: str) -> int:
    """Rows the relay still owes for one aggregate, once they settle (the
    relay records the completion after the projector may have shown it)."""
    deadline = time.monotonic() + 30
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM relay_pending WHERE aggregate_id = %s", (aggregate_id,)
            ).fetchone()
            owed = int(row[0]) if row else 0
            if owed == 0 or time.monotonic() > deadline:
                return owed
            time.sleep(0.1)


def test_its_refusals_are_in_its_own_shape_and_change_nothing(stack: Stack) -> None:
    member, reader = _people(stack, "member", "reader")
    (stranger,) = _people(stack, "member")
    body = {"widget": {"name": "w2", "finish": {"kind": "oil", "coats": 1}}}
    made = member.http.post(member.widgets(), json=body)
    assert made.status_code == 202, made.text
    mine = f"{member.widgets()}/{made.json()['widget']['id']}"
    before = _widget_count(stack)

    refused = reader.http.post(reader.widgets(), json=body)
    assert _fault(refused, 403) == "Policy doesn't allow workshop:widgets:create to be performed."
    # Another project's widget, or its project's path, is as if it did not exist.
    assert "could not be found" in _fault(stranger.http.get(mine), 404)
    other = stranger.http.get(mine.replace(member.project, stranger.project))
    assert "could not be found" in _fault(other, 404)
    assert "could not be found" in _fault(stranger.http.post(member.widgets(), json=body), 404)
    assert _fault(member.http.get(f"{member.widgets()}/not-a-uuid"), 404)
    assert "finish" in _fault(member.http.post(member.widgets(), json={"widget": {}}), 400)
    assert _fault(httpx.post(f"{stack.url}{member.widgets()}", json=body), 401)
    # Its microversions are its own: out of range, malformed.
    late = member.http.post(
        member.widgets(), json=body, headers={"OpenStack-API-Version": "workshop 1.3"}
    )
    assert "Minimum is 1.0 and maximum is 1.2." in _fault(late, 406)
    odd = member.http.get(mine, headers={"OpenStack-API-Version": "workshop one"})
    assert _fault(odd, 400) == "Not a workshop version: 'one'"
    assert member.http.get(mine, headers={"OpenStack-API-Version": "compute 2.99"}).is_success
    assert _widget_count(stack) == before


def test_its_operations_are_in_the_openapi_document(stack: Stack) -> None:
    paths = httpx.get(f"{stack.url}/openapi.json").json()["paths"]
    assert paths["/workshop"]["get"]["security"] == []
    create = paths[f"{WORKSHOP}/{{project_id}}/widgets"]["post"]
    assert "security" not in create  # the document's default: a token
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateWidgetBody"
    }


def test_a_request_written_on_the_command_side_is_polished_too(stack: Stack) -> None:
    app = PluginApp(eventsourcing_env(stack.database_url))
    try:
        finish = _plugin("domain").Finish("wax", 3)
        receipt = _plugin("commands").request_widget(app, "p1", "w3", finish)
    finally:
        app.close()
    deadline = time.monotonic() + 30
    row = None
    while time.monotonic() < deadline:
        with psycopg.connect(stack.database_url) as conn:
            row = conn.execute(
                "SELECT state, finish FROM widgets WHERE id = %s", (receipt.id,)
            ).fetchone()
        if row is not None and row[0] == "polished":
            break
        time.sleep(0.1)
    assert row == ("polished", "3 coats of wax"), stack.logs_tail()
