"""A domain's admin is admin of its domain only (issue 19, part 2), over
HTTP as an attacker would try it: with its domain-scoped token it cannot
grant itself (or anyone of its domain) roles elsewhere, touch another
domain's users or projects, list them, or create anything in Default; with
the admin role it may give itself on its own domain's project, it is that
project's member and nothing more. Every refusal appends nothing. It still
manages its own domain; the cloud's admin (the admin role on the admin
project) still does everything.

One cloud for the module (the API in this process on a real PostgreSQL, the
projector in a thread)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from integration.helpers import LoopThread

from api.app import build_state, create_app
from api.context import ApiState
from commands.bootstrap import Settings, eventsourcing_env
from commands.catalog import CreateFlavor, RegisterHost
from commands.domains import CreateDomain
from commands.identity import CreateProject, CreateUser, GrantRole
from commands.images import CreateImage
from commands.services import Services
from domain.values import SYSTEM
from ops.postgres import PrivateCluster
from projections.bootstrap import Projector, build_group, postgres_recorder

V3 = "/identity/v3"
SOME_ID = "00000000-0000-4000-8000-00000000dead"


@dataclass
class Cloud:
    loop: LoopThread
    client: httpx.AsyncClient
    state: ApiState
    ids: dict[str, str] = field(default_factory=dict)  # name -> id
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, who: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        """``{name}`` in the path (and in a JSON body's strings) becomes that id."""
        headers = {"X-Auth-Token": self.tokens[who]} if who else {}
        path, kw = _fill(path, self.ids), _fill(kw, self.ids)
        return self.loop.run(self.client.request(method, path, headers=headers, **kw))

    def ok(self, who: str, method: str, path: str, **kw: Any) -> Any:
        response = self.call(who, method, path, **kw)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def login(self, user: str, scope: dict[str, Any], password: str = "pw") -> httpx.Response:
        by_id = {"user": {"id": user, "password": password}}
        identity = {"methods": ["password"], "password": by_id}
        auth = {"identity": identity, "scope": _fill(scope, self.ids)}
        return self.call(None, "POST", f"{V3}/auth/tokens", json={"auth": auth})

    def token(self, who: str, user: str, scope: dict[str, Any]) -> dict[str, Any]:
        response = self.login(self.ids[user], scope)
        assert response.status_code == 201, response.text
        self.tokens[who] = response.headers["X-Subject-Token"]
        token: dict[str, Any] = response.json()["token"]
        return token

    def ledger_end(self) -> int:
        return postgres_recorder(self.state.services.app).max_notification_id() or 0


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _project(name: str) -> dict[str, Any]:
    return {"project": {"id": f"{{{name}}}"}}


def _seed(cloud: Cloud, services: Services) -> None:
    ids = cloud.ids
    for name in ("admin", "demo"):
        ids[name] = services.create_project(CreateProject(name), SYSTEM).id.hex
    for domain in ("east", "west"):
        made = services.create_domain(CreateDomain(domain), SYSTEM)
        ids[domain] = services.app.repository.get(made.id).domain_id
        ids[f"{domain}-p"] = services.create_project(
            CreateProject(f"{domain}-p", domain_id=ids[domain]), SYSTEM
        ).id.hex
    users = [  # name, domain, project it is a member of ("" : none)
        ("root", "default", "admin"),
        ("dora", "default", "demo"),
        ("eve", ids["east"], ""),  # east's admin, the attacker
        ("ed", ids["east"], "east-p"),
        ("wes", ids["west"], "west-p"),
    ]
    for name, domain_id, project in users:
        user = CreateUser(name, "pw", domain_id=domain_id, roles=())
        ids[name] = services.create_user(user, SYSTEM).id.hex
        if project:
            role = "admin" if name == "root" else "member"
            services.grant_role(GrantRole(ids[name], ids[project], role), SYSTEM)
    services.grant_role(GrantRole(ids["eve"], "", "admin", domain_id=ids["east"]), SYSTEM)
    services.create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), SYSTEM)
    services.register_host(RegisterHost("compute-1", vcpus=8, ram_mb=8192, disk_gb=100), SYSTEM)
    public = CreateImage("public", disk_format="raw", visibility="public")
    ids["public"] = str(services.create_image(public, SYSTEM).id)
    services.upload_image(ids["public"], [b"public bytes"], SYSTEM)
    cloud.token("root", "root", _project("admin"))
    cloud.token("dora", "dora", _project("demo"))
    cloud.token("eve", "eve", {"domain": {"id": "{east}"}})
    image = {"name": "dora's", "disk_format": "raw", "container_format": "bare"}
    ids["private"] = cloud.ok("dora", "POST", "/image/v2/images", json=image)["id"]
    cloud.ok("dora", "PUT", "/image/v2/images/{private}/file", content=b"dora's disk")
    server = {"name": "vm", "imageRef": "{public}", "flavorRef": "1", "networks": "none"}
    made = cloud.ok("dora", "POST", "/compute/v2.1/servers", json={"server": server})
    ids["server"] = made["server"]["id"]


@pytest.fixture(scope="module")
def cloud(
    pg_cluster: PrivateCluster, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cloud]:
    name = f"domain_scope_{os.getpid()}"
    pg_cluster.create_database(name, template=template_database)
    url = pg_cluster.url(name)
    state_dir = str(tmp_path_factory.mktemp("domain-scope"))
    settings = Settings.from_env(
        {"CLOUDLEDGER_DATABASE_URL": url, "CLOUDLEDGER_STATE_DIR": state_dir}
    )
    api_state = build_state(settings)
    group = build_group(eventsourcing_env(url))
    stop = threading.Event()
    projector = Projector(api_state.services.app, group, url)
    projecting = threading.Thread(target=projector.run, args=(stop,), name="projector")
    projecting.start()
    loop = LoopThread()
    loop.run(api_state.reads.open())  # httpx's ASGI transport runs no lifespan
    loop.run(api_state.progress.start(wait_ready=5.0))
    app = create_app(api_state, settings.max_json_body_bytes)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    try:
        cloud = Cloud(loop, client, api_state)
        _seed(cloud, api_state.services)
        yield cloud
    finally:
        loop.run(client.aclose())
        loop.run(api_state.progress.stop())
        loop.run(api_state.reads.close())
        loop.stop()
        stop.set()
        projecting.join()
        group.datastore.close()
        api_state.services.app.close()
        pg_cluster.drop_database(name)


# --- what a domain's admin may not do ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # Roles for itself beyond its domain: the path to the cloud's admin.
        ("PUT", f"{V3}/projects/{{west-p}}/users/{{eve}}/roles/admin", None),
        ("PUT", f"{V3}/projects/{{admin}}/users/{{eve}}/roles/admin", None),
        ("PUT", f"{V3}/projects/{{demo}}/users/{{eve}}/roles/member", None),
        ("PUT", f"{V3}/domains/{{west}}/users/{{eve}}/roles/admin", None),
        ("PUT", f"{V3}/domains/default/users/{{eve}}/roles/admin", None),
        # Another domain's user, even on its own project; another's grant.
        ("PUT", f"{V3}/projects/{{east-p}}/users/{{wes}}/roles/member", None),
        ("DELETE", f"{V3}/projects/{{west-p}}/users/{{wes}}/roles/member", None),
        # Another domain's users and projects.
        ("PATCH", f"{V3}/users/{{wes}}", {"user": {"password": "mine-now"}}),
        ("PATCH", f"{V3}/users/{{root}}", {"user": {"password": "mine-now"}}),
        ("PATCH", f"{V3}/users/{{dora}}", {"user": {"enabled": False}}),
        ("DELETE", f"{V3}/users/{{wes}}", None),
        ("PATCH", f"{V3}/projects/{{west-p}}", {"project": {"enabled": False}}),
        ("DELETE", f"{V3}/projects/{{demo}}", None),
        # Creating in Default, or what only the cloud's admin makes.
        ("POST", f"{V3}/projects", {"project": {"name": "mine", "domain_id": "default"}}),
        ("POST", f"{V3}/users", {"user": {"name": "m", "password": "p", "domain_id": "default"}}),
        ("POST", f"{V3}/domains", {"domain": {"name": "mine"}}),
        ("PATCH", f"{V3}/domains/{{east}}", {"domain": {"name": "renamed"}}),
        ("POST", f"{V3}/roles", {"role": {"name": "mine"}}),
        # A user of its own domain whose default project is another domain's.
        ("PATCH", f"{V3}/users/{{ed}}", {"user": {"default_project_id": "{west-p}"}}),
        # What does not exist is refused like what is another domain's.
        ("PATCH", f"{V3}/users/{SOME_ID}", {"user": {"password": "x"}}),
        ("PUT", f"{V3}/projects/{SOME_ID}/users/{{eve}}/roles/admin", None),
    ],
)
def test_a_domain_admin_is_refused_outside_its_domain_and_nothing_changes(
    cloud: Cloud, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = cloud.ledger_end()
    response = cloud.call("eve", method, path, json=body)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == 403  # Keystone's error shape
    assert cloud.ledger_end() == before


def test_the_users_it_tried_to_take_over_still_log_in_as_before(cloud: Cloud) -> None:
    for user in ("wes", "root", "dora"):
        cloud.call("eve", "PATCH", f"{V3}/users/{{{user}}}", json={"user": {"password": "x"}})
        assert cloud.login(cloud.ids[user], {}).status_code == 201
        assert cloud.login(cloud.ids[user], {}, password="x").status_code == 401


@pytest.mark.parametrize(
    ("path", "names"),
    [
        (f"{V3}/users", {"eve", "ed"}),
        (f"{V3}/users?domain_id={{west}}", set()),
        (f"{V3}/users?domain_id=default", set()),
        (f"{V3}/projects", {"east-p"}),
        (f"{V3}/projects?domain_id={{west}}", set()),
    ],
)
def test_a_domain_admin_lists_only_its_own_domain(cloud: Cloud, path: str, names: set[str]) -> None:
    kind = "users" if "/users" in path else "projects"
    listed = cloud.ok("eve", "GET", path)[kind]
    assert {item["name"] for item in listed} == names
    assert {item["domain_id"] for item in listed} <= {cloud.ids["east"]}


def test_a_domain_admin_sees_only_its_own_domains_assignments(cloud: Cloud) -> None:
    found = cloud.ok("eve", "GET", f"{V3}/role_assignments")["role_assignments"]
    scopes = {a["scope"].get("project", a["scope"].get("domain", {})).get("id") for a in found}
    assert scopes and scopes <= {cloud.ids["east"], cloud.ids["east-p"]}
    assert {a["user"]["id"] for a in found} >= {cloud.ids["eve"], cloud.ids["ed"]}
    other = f"{V3}/role_assignments?scope.project.id={{west-p}}"
    assert cloud.ok("eve", "GET", other)["role_assignments"] == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"{V3}/domains", 403),
        (f"{V3}/domains/{{west}}", 403),
        (f"{V3}/domains/{{east}}", 200),
        (f"{V3}/users/{{wes}}", 404),  # as if it did not exist
        (f"{V3}/users/{{ed}}", 200),
        (f"{V3}/users/{{wes}}/projects", 403),
        (f"{V3}/projects/{{west-p}}", 404),  # as if it did not exist
        (f"{V3}/projects/{{east-p}}", 200),
        (f"{V3}/projects/{{west-p}}/users/{{wes}}/roles", 403),
        (f"{V3}/projects/{{east-p}}/users/{{ed}}/roles/member", 204),
    ],
)
def test_a_domain_admin_reads_its_own_domain_only(cloud: Cloud, path: str, status: int) -> None:
    assert cloud.call("eve", "GET", path).status_code == status


# --- what it still does: manage its own domain --------------------------------------


def test_a_domain_admin_manages_its_own_domain_as_before(cloud: Cloud) -> None:
    project = cloud.ok("eve", "POST", f"{V3}/projects", json={"project": {"name": "east-q"}})
    assert project["project"]["domain_id"] == cloud.ids["east"]  # its own, unasked
    cloud.ids["east-q"] = project["project"]["id"]
    body = {"user": {"name": "eli", "password": "first", "default_project_id": "{east-q}"}}
    user = cloud.ok("eve", "POST", f"{V3}/users", json=body)["user"]
    assert user["domain_id"] == cloud.ids["east"]
    cloud.ids["eli"] = user["id"]
    grant = f"{V3}/projects/{{east-q}}/users/{{eli}}/roles/member"
    assert cloud.call("eve", "PUT", grant).status_code == 204
    assert cloud.call("eve", "GET", grant).status_code == 204
    on_domain = f"{V3}/domains/{{east}}/users/{{eli}}/roles/reader"
    assert cloud.call("eve", "PUT", on_domain).status_code == 204
    cloud.ok("eve", "PATCH", f"{V3}/users/{{eli}}", json={"user": {"password": "reset"}})
    assert cloud.login(cloud.ids["eli"], _project("east-q"), password="first").status_code == 401
    token = cloud.login(cloud.ids["eli"], _project("east-q"), password="reset")
    assert token.status_code == 201, token.text
    assert token.json()["token"]["roles"] == [{"id": "member", "name": "member"}]
    cloud.ok("eve", "PATCH", f"{V3}/projects/{{east-q}}", json={"project": {"description": "q"}})
    assert cloud.call("eve", "DELETE", grant).status_code == 204
    assert cloud.call("eve", "DELETE", f"{V3}/users/{{eli}}").status_code == 204
    assert cloud.call("eve", "DELETE", f"{V3}/projects/{{east-q}}").status_code == 204


# --- its admin role on its own project is that project's, not the cloud's -----------


@pytest.fixture(scope="module")
def project_admin(cloud: Cloud) -> str:
    """Eve, admin of east-p by her own grant: a project token, not the cloud's."""
    own = f"{V3}/projects/{{east-p}}/users/{{eve}}/roles/admin"
    assert cloud.call("eve", "PUT", own).status_code == 204
    token = cloud.token("eve@east-p", "eve", _project("east-p"))
    assert token["roles"] == [{"id": "admin", "name": "admin"}]
    return "eve@east-p"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/compute/v2.1/servers?all_tenants=1", 403),
        ("GET", "/compute/v2.1/servers/detail?all_tenants=True", 403),
        ("GET", "/compute/v2.1/servers/{server}", 404),
        ("GET", "/compute/v2.1/os-hypervisors", 403),
        ("GET", "/compute/v2.1/os-hypervisors/detail", 403),
        ("GET", "/compute/v2.1/os-services", 403),
        ("GET", "/compute/v2.1/os-simple-tenant-usage", 403),
        ("GET", "/compute/v2.1/os-quota-sets/{demo}", 403),
        ("GET", "/audit", 403),
        ("GET", "/metrics", 403),
        ("GET", "/image/v2/images/{private}", 404),
        ("GET", "/image/v2/images/{private}/file", 404),
        ("POST", "/image/v2/images/{public}/actions/deactivate", 403),
        ("GET", f"{V3}/users", 403),
        ("GET", f"{V3}/projects", 403),
        ("PUT", f"{V3}/projects/{{admin}}/users/{{eve}}/roles/admin", 403),
    ],
)
def test_a_project_admin_reaches_nothing_beyond_its_project(
    cloud: Cloud, project_admin: str, method: str, path: str, status: int
) -> None:
    before = cloud.ledger_end()
    response = cloud.call(project_admin, method, path)
    assert response.status_code == status, response.text
    assert cloud.ledger_end() == before


def test_a_project_admin_lists_only_its_projects_servers_and_images(
    cloud: Cloud, project_admin: str
) -> None:
    assert cloud.ok(project_admin, "GET", "/compute/v2.1/servers")["servers"] == []
    images = cloud.ok(project_admin, "GET", "/image/v2/images")["images"]
    assert {i["id"] for i in images} == {cloud.ids["public"]}


# --- the cloud's admin still does everything ----------------------------------------


def test_the_clouds_admin_still_reaches_every_domain_and_project(cloud: Cloud) -> None:
    users = {u["name"] for u in cloud.ok("root", "GET", f"{V3}/users")["users"]}
    assert {"root", "dora", "eve", "ed", "wes"} <= users
    projects = {p["name"] for p in cloud.ok("root", "GET", f"{V3}/projects")["projects"]}
    assert {"admin", "demo", "east-p", "west-p"} <= projects
    grant = f"{V3}/projects/{{west-p}}/users/{{dora}}/roles/reader"
    assert cloud.call("root", "PUT", grant).status_code == 204
    assert cloud.call("root", "DELETE", grant).status_code == 204
    everyone = cloud.ok("root", "GET", "/compute/v2.1/servers?all_tenants=1")["servers"]
    assert cloud.ids["server"] in {s["id"] for s in everyone}
    assert cloud.call("root", "GET", "/compute/v2.1/os-hypervisors").status_code == 200
    assert cloud.call("root", "GET", "/audit").status_code == 200
    assert cloud.call("root", "GET", "/image/v2/images/{private}/file").content == b"dora's disk"
    unknown = cloud.call("root", "PATCH", f"{V3}/users/{SOME_ID}", json={"user": {}})
    assert unknown.status_code == 404  # for the cloud's admin, what is not there is not found


def test_only_a_token_of_the_admin_project_says_so(cloud: Cloud) -> None:
    assert cloud.token("root", "root", _project("admin"))["is_admin_project"] is True
    assert cloud.token("dora", "dora", _project("demo"))["is_admin_project"] is False
    assert cloud.token("eve@east-p", "eve", _project("east-p"))["is_admin_project"] is False
    assert "is_admin_project" not in cloud.token("eve", "eve", {"domain": {"id": "{east}"}})


# --- the system scope: the roles held on the admin project, cloud-wide ---------------

SYSTEM_SCOPE = {"system": {"all": True}}


def test_a_system_token_carries_the_admin_projects_roles_and_manages_identity(
    cloud: Cloud,
) -> None:
    token = cloud.token("root@system", "root", SYSTEM_SCOPE)
    assert token["system"] == {"all": True} and "project" not in token
    assert token["roles"] == [{"id": "admin", "name": "admin"}]
    assert token["catalog"]
    users = {u["name"] for u in cloud.ok("root@system", "GET", f"{V3}/users")["users"]}
    assert {"root", "dora", "eve", "ed", "wes"} <= users
    assert cloud.call("root@system", "GET", f"{V3}/users/{{wes}}").status_code == 200
    # Compute and images need a project, as Nova's and Glance's APIs do.
    assert cloud.call("root@system", "GET", "/compute/v2.1/os-hypervisors").status_code == 403


@pytest.mark.parametrize("user", ["dora", "eve", "ed"])
def test_only_a_user_with_a_role_on_the_admin_project_gets_a_system_token(
    cloud: Cloud, user: str
) -> None:
    assert cloud.login(cloud.ids[user], SYSTEM_SCOPE).status_code == 401
    wrong = {"system": {"all": False}}
    assert cloud.login(cloud.ids[user], wrong).status_code == 400


def test_removing_the_role_on_the_admin_project_revokes_the_system_token(cloud: Cloud) -> None:
    body = {"user": {"name": "sue", "password": "pw"}}
    cloud.ids["sue"] = cloud.ok("root", "POST", f"{V3}/users", json=body)["user"]["id"]
    grant = f"{V3}/projects/{{admin}}/users/{{sue}}/roles/admin"
    assert cloud.call("root", "PUT", grant).status_code == 204
    cloud.token("sue@system", "sue", SYSTEM_SCOPE)
    assert cloud.call("sue@system", "GET", f"{V3}/domains").status_code == 200
    assert cloud.call("root", "DELETE", grant).status_code == 204
    assert cloud.call("sue@system", "GET", f"{V3}/domains").status_code == 401
    assert cloud.login(cloud.ids["sue"], SYSTEM_SCOPE).status_code == 401
