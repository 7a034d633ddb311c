"""Tenant isolation over HTTP, as users see it: a member of project B never
sees or touches project A's servers, private images or quotas (another
project's server or private image is 404, as if it did not exist); A's
reader reads but never writes; admins see every project; public images and
flavors are shared, and only admins change them.

One cloud for the module (the API in this process on a real PostgreSQL, the
projector in a thread): each test only reads, or tries writes that must be
refused and then checks that project A looks exactly as it did before."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID, uuid4

import httpx
import pytest
from integration.helpers import LoopThread

from api.app import build_state, create_app
from commands import compute
from commands.bootstrap import Settings, eventsourcing_env
from commands.catalog import CreateFlavor, RegisterHost
from commands.identity import CreateProject, CreateUser
from commands.images import CreateImage
from commands.services import Services
from domain.values import SYSTEM
from ops.postgres import PrivateCluster
from projections.bootstrap import Projector, build_group

T = TypeVar("T")
A, B = "proj-a", "proj-b"
USERS = {  # user: (project, roles); every password is "pw"
    "admin": ("admin", ("admin",)),
    "alice": (A, ("member",)),
    "bob": (B, ("member",)),
    "rita": (A, ("reader",)),
}
SERVERS, IMAGES = "/compute/v2.1/servers", "/image/v2/images"
COMPUTE = "/compute/v2.1"
QUOTAS, LIMITS, FLAVORS = f"{COMPUTE}/os-quota-sets", f"{COMPUTE}/limits", f"{COMPUTE}/flavors"
A_SERVERS = ("a_build", "a_active", "a_stopped")  # in BUILD, ACTIVE and SHUTOFF
HIDDEN_FLAVOR = "a.hidden"  # not public
A_BYTES = b"project A's disk"


@dataclass
class Cloud:
    loop: LoopThread
    client: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)  # name -> id
    ids: dict[str, str] = field(default_factory=dict)  # resource -> id; "a_project" too
    baseline: dict[str, Any] = field(default_factory=dict)  # project A, as alice saw it

    def call(self, user: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``{name}`` in the path (and in a JSON body's strings) becomes that id."""
        headers = {"X-Auth-Token": self.tokens[user]} if user else {}
        path, kwargs = _fill(path, self.ids), _fill(kwargs, self.ids)
        return self.loop.run(self.client.request(method, path, headers=headers, **kwargs))

    def ok(self, user: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(user, method, path, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def login(self, user: str) -> None:
        project, default = USERS[user][0], {"id": "default"}
        auth = {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "password": "pw", "domain": default}},
            },
            "scope": {"project": {"name": project, "domain": default}},
        }
        response = self.call(None, "POST", "/identity/v3/auth/tokens", json={"auth": auth})
        assert response.status_code == 201, response.text
        self.tokens[user] = response.headers["X-Subject-Token"]
        self.projects[project] = response.json()["token"]["project"]["id"]

    def boot(
        self, user: str, name: str, image: str = "{public}", flavor: str = "1"
    ) -> httpx.Response:
        server = {"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none"}
        return self.call(user, "POST", SERVERS, json={"server": server})

    def server_ids(self, user: str, path: str = SERVERS) -> set[str]:
        return {s["id"] for s in self.ok(user, "GET", path)["servers"]}

    def image_ids(self, user: str) -> set[str]:
        return {i["id"] for i in self.ok(user, "GET", IMAGES)["images"]}

    def ids_of(self, *names: str) -> set[str]:
        return {self.ids[name] for name in names}

    def project_a(self) -> dict[str, Any]:
        """Everything of project A that alice sees, for before/after checks."""
        servers = self.ok("alice", "GET", f"{SERVERS}/detail")["servers"]
        return {
            "servers": sorted(servers, key=lambda s: s["id"]),
            "image": self.ok("alice", "GET", f"{IMAGES}/{{a_private}}"),
            "bytes": self.call("alice", "GET", f"{IMAGES}/{{a_private}}/file").content,
            "quota": self.ok("alice", "GET", f"{QUOTAS}/{{a_project}}/detail"),
            "limits": self.ok("alice", "GET", LIMITS),
        }


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the read models never showed it"
        time.sleep(0.02)


def _seed(cloud: Cloud, services: Services) -> None:
    for project in ("admin", A, B):
        services.create_project(CreateProject(project, ""), SYSTEM)
    for user, (project, roles) in USERS.items():
        services.create_user(CreateUser(user, "pw", project, roles), SYSTEM)
    services.create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), SYSTEM)
    hidden = CreateFlavor(HIDDEN_FLAVOR, HIDDEN_FLAVOR, 1, 512, 1, is_public=False)
    services.create_flavor(hidden, SYSTEM)
    services.register_host(RegisterHost("compute-1", vcpus=64, ram_mb=65536, disk_gb=500), SYSTEM)
    public = services.create_image(
        CreateImage("cirros", disk_format="raw", visibility="public"), SYSTEM
    )
    services.upload_image(str(public.id), [b"public bytes"], SYSTEM)
    cloud.ids["public"] = str(public.id)
    for user in USERS:
        cloud.login(user)
    cloud.ids["a_project"] = cloud.projects[A]
    for user, name, data in (("alice", "a_private", A_BYTES), ("bob", "b_private", b"B's")):
        body = {"name": name, "visibility": "private", "disk_format": "raw"}
        image = cloud.ok(user, "POST", IMAGES, json=body)
        cloud.ok(user, "PUT", f"{IMAGES}/{image['id']}/file", content=data)
        cloud.ids[name] = image["id"]
    for user, name in [*(("alice", name) for name in A_SERVERS), ("bob", "b_vm")]:
        cloud.ids[name] = cloud.boot(user, name).json()["server"]["id"]
    # No scheduler or compute worker runs here: do their part by command.
    for name in ("a_active", "a_stopped"):
        assert compute.claim_host(services.app, UUID(cloud.ids[name]), "compute-1")
        compute.finish_spawn(services.app, UUID(cloud.ids[name]))

    def status(name: str) -> str:
        return str(cloud.ok("alice", "GET", f"{SERVERS}/{cloud.ids[name]}")["server"]["status"])

    _wait_for(lambda: status("a_stopped") == "ACTIVE")
    cloud.ok("alice", "POST", f"{SERVERS}/{{a_stopped}}/action", json={"os-stop": None})
    compute.finish_stop(services.app, UUID(cloud.ids["a_stopped"]))
    expected = ["BUILD", "ACTIVE", "SHUTOFF"]
    _wait_for(lambda: [status(name) for name in A_SERVERS] == expected)
    cloud.baseline = cloud.project_a()


@pytest.fixture(scope="module")
def cloud(
    pg_cluster: PrivateCluster, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cloud]:
    name = f"isolation_{os.getpid()}"
    pg_cluster.create_database(name, template=template_database)
    url = pg_cluster.url(name)
    state_dir = str(tmp_path_factory.mktemp("isolation"))
    env = {"CLOUDLEDGER_DATABASE_URL": url, "CLOUDLEDGER_STATE_DIR": state_dir}
    settings = Settings.from_env(env)
    api_state = build_state(settings)
    group = build_group(eventsourcing_env(url))
    stop = threading.Event()
    projector = Projector(api_state.services.app, group, url)
    projecting = threading.Thread(target=projector.run, args=(stop,), name="projector")
    projecting.start()
    loop = LoopThread()
    # httpx's ASGI transport runs no lifespan: open what it would.
    loop.run(api_state.reads.open())
    loop.run(api_state.progress.start(wait_ready=5.0))
    app = create_app(api_state, settings.max_json_body_bytes)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    try:
        cloud = Cloud(loop, client)
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


def _unchanged(cloud: Cloud) -> None:
    assert cloud.project_a() == cloud.baseline


# --- lists ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SERVERS, f"{SERVERS}/detail"])
def test_server_lists_show_only_the_callers_project(cloud: Cloud, path: str) -> None:
    assert cloud.server_ids("bob", path) == cloud.ids_of("b_vm")
    assert cloud.server_ids("alice", path) == cloud.ids_of(*A_SERVERS)
    assert cloud.server_ids("rita", path) == cloud.ids_of(*A_SERVERS)


@pytest.mark.parametrize(
    "query", ["project_id={a_project}", "tenant_id={a_project}", "name=a_", "status=ACTIVE"]
)
def test_list_filters_do_not_widen_a_members_view(cloud: Cloud, query: str) -> None:
    servers = cloud.ok("bob", "GET", f"{SERVERS}/detail?{query}")["servers"]
    assert {s["tenant_id"] for s in servers} <= {cloud.projects[B]}
    assert not {s["id"] for s in servers} & cloud.ids_of(*A_SERVERS)


def test_a_member_cannot_list_all_tenants_nor_page_from_anothers_server(cloud: Cloud) -> None:
    assert cloud.call("bob", "GET", f"{SERVERS}?all_tenants=1").status_code == 403
    marker = cloud.call("bob", "GET", f"{SERVERS}?marker={{a_active}}")
    assert marker.status_code == 400, marker.text  # as for a marker that names nothing


@pytest.mark.parametrize(
    ("user", "expected"),
    [("alice", "a_private"), ("rita", "a_private"), ("bob", "b_private")],
)
def test_image_lists_show_the_projects_own_and_public_images(
    cloud: Cloud, user: str, expected: str
) -> None:
    assert cloud.image_ids(user) == cloud.ids_of("public", expected)


# --- another project's servers and private images do not exist ------------------------

SERVER_REQUESTS = [
    pytest.param("GET", "", None, "a_active", id="show"),
    pytest.param("DELETE", "", None, "a_build", id="delete-unplaced"),  # would go at once
    pytest.param("DELETE", "", None, "a_active", id="delete-active"),
    pytest.param("POST", "/action", {"os-stop": None}, "a_active", id="os-stop"),
    pytest.param("POST", "/action", {"os-start": None}, "a_stopped", id="os-start"),
]


@pytest.mark.parametrize(("method", "suffix", "body", "target"), SERVER_REQUESTS)
def test_another_projects_server_is_not_found(
    cloud: Cloud, method: str, suffix: str, body: Any, target: str
) -> None:
    theirs = cloud.call("bob", method, f"{SERVERS}/{cloud.ids[target]}{suffix}", json=body)
    missing = str(uuid4())
    nobodys = cloud.call("bob", method, f"{SERVERS}/{missing}{suffix}", json=body)
    assert theirs.status_code == 404, theirs.text
    # Word for word what a server that does not exist gets.
    assert theirs.text.replace(cloud.ids[target], missing) == nobodys.text
    _unchanged(cloud)


IMAGE_REQUESTS = [
    pytest.param("GET", "", {}, id="show"),
    pytest.param("DELETE", "", {}, id="delete"),
    pytest.param("GET", "/file", {}, id="download"),
    pytest.param("PUT", "/file", {"content": b"overwritten"}, id="upload"),
    pytest.param("PUT", "/tags/mine", {}, id="tag"),
    pytest.param("DELETE", "/tags/mine", {}, id="untag"),
    pytest.param("GET", "/members", {}, id="members"),
    pytest.param("POST", "/members", {"json": {"member": "{a_project}"}}, id="add-member"),
    pytest.param("GET", "/members/{a_project}", {}, id="member"),
]


@pytest.mark.parametrize(("method", "suffix", "kwargs"), IMAGE_REQUESTS)
def test_another_projects_private_image_is_not_found(
    cloud: Cloud, method: str, suffix: str, kwargs: dict[str, Any]
) -> None:
    response = cloud.call("bob", method, f"{IMAGES}/{{a_private}}{suffix}", **kwargs)
    assert response.status_code == 404, response.text
    assert A_BYTES not in response.content
    _unchanged(cloud)


def test_booting_from_another_projects_private_image_is_refused(cloud: Cloud) -> None:
    before = cloud.ok("bob", "GET", LIMITS)
    response = cloud.boot("bob", "sneaky", image="{a_private}")
    missing = cloud.boot("bob", "sneaky", image=str(uuid4()))
    assert response.status_code == missing.status_code == 400, response.text
    assert "could not be found" in response.json()["badRequest"]["message"]
    assert cloud.server_ids("bob") == cloud.ids_of("b_vm")  # nothing booted
    assert cloud.ok("bob", "GET", LIMITS) == before  # nothing reserved
    _unchanged(cloud)


# --- usage -------------------------------------------------------------------------------

USAGE = f"{COMPUTE}/os-simple-tenant-usage"


def test_usage_is_the_projects_own_and_all_of_it_only_for_admins(cloud: Cloud) -> None:
    period = "start=2000-01-01T00:00:00&end=2100-01-01T00:00:00"
    assert cloud.call("bob", "GET", f"{USAGE}/{{a_project}}?{period}").status_code == 403
    assert cloud.call("bob", "GET", f"{USAGE}?{period}").status_code == 403
    mine = cloud.ok("alice", "GET", f"{USAGE}/{{a_project}}?{period}")["tenant_usage"]
    assert {u["instance_id"] for u in mine["server_usages"]} == cloud.ids_of(
        "a_active",
        "a_stopped",  # launched ones; a_build never ran
    )
    everyone = cloud.ok("admin", "GET", f"{USAGE}?{period}&detailed=1")["tenant_usages"]
    assert {u["tenant_id"] for u in everyone} >= {cloud.projects[A]}


# --- quotas and limits -------------------------------------------------------------------

QUOTA_REQUESTS = [
    pytest.param("GET", "", None, id="show"),
    pytest.param("GET", "/detail", None, id="detail"),
    pytest.param("PUT", "", {"quota_set": {"instances": 1000, "cores": 1000}}, id="update"),
]


@pytest.mark.parametrize(("method", "suffix", "body"), QUOTA_REQUESTS)
def test_a_member_cannot_read_or_set_another_projects_quota(
    cloud: Cloud, method: str, suffix: str, body: Any
) -> None:
    response = cloud.call("bob", method, f"{QUOTAS}/{{a_project}}{suffix}", json=body)
    nobodys = cloud.call("bob", method, f"{QUOTAS}/{uuid4().hex}{suffix}", json=body)
    assert response.status_code == 403, response.text
    assert response.text == nobodys.text  # tells nothing, not even that A exists
    _unchanged(cloud)


def test_each_project_sees_its_own_quota_and_usage(cloud: Cloud) -> None:
    b_id = cloud.projects[B]
    assert cloud.ok("bob", "GET", f"{QUOTAS}/{b_id}")["quota_set"]["id"] == b_id
    for user, in_use in (("alice", 3), ("rita", 3), ("bob", 1)):
        absolute = cloud.ok(user, "GET", LIMITS)["limits"]["absolute"]
        assert absolute["totalInstancesUsed"] == in_use, user
    asked_for_a = cloud.ok("bob", "GET", f"{LIMITS}?tenant_id={{a_project}}")["limits"]
    assert asked_for_a["absolute"]["totalInstancesUsed"] == 1  # still its own
    admin_view = cloud.ok("admin", "GET", f"{QUOTAS}/{{a_project}}/detail")["quota_set"]
    assert admin_view["instances"]["in_use"] == 3


# --- flavors: shared, read-only for non-admins ---------------------------------------------


@pytest.mark.parametrize("user", ["alice", "rita", "bob"])
def test_flavors_are_read_only_and_hidden_ones_invisible_to_non_admins(
    cloud: Cloud, user: str
) -> None:
    for path in (FLAVORS, f"{FLAVORS}/detail"):
        assert {f["id"] for f in cloud.ok(user, "GET", path)["flavors"]} == {"1"}
    assert cloud.ok(user, "GET", f"{FLAVORS}/1")["flavor"]["name"] == "m1.tiny"
    assert cloud.call(user, "GET", f"{FLAVORS}/{HIDDEN_FLAVOR}").status_code == 404
    new = {"flavor": {"name": "mine", "id": "mine", "ram": 512, "vcpus": 1, "disk": 1}}
    assert cloud.call(user, "POST", FLAVORS, json=new).status_code == 403
    assert cloud.call(user, "DELETE", f"{FLAVORS}/1").status_code == 403
    refused = 403 if user == "rita" else 400  # a reader may boot nothing at all
    assert cloud.boot(user, "on-hidden", flavor=HIDDEN_FLAVOR).status_code == refused
    assert {f["id"] for f in cloud.ok("admin", "GET", FLAVORS)["flavors"]} == {"1", HIDDEN_FLAVOR}
    _unchanged(cloud)


# --- admin ------------------------------------------------------------------------------------


def test_admin_sees_every_project_with_all_tenants(cloud: Cloud) -> None:
    a_servers = cloud.ids_of(*A_SERVERS)
    assert cloud.server_ids("admin") == set()  # without all_tenants: its own project's
    assert cloud.server_ids("admin", f"{SERVERS}?all_tenants=1") == a_servers | cloud.ids_of("b_vm")
    path = f"{SERVERS}/detail?all_tenants=1&project_id={{a_project}}"
    only_a = cloud.ok("admin", "GET", path)["servers"]
    assert {s["id"] for s in only_a} == a_servers
    assert {s["tenant_id"] for s in only_a} == {cloud.projects[A]}
    shown = cloud.ok("admin", "GET", f"{SERVERS}/{{a_active}}")["server"]
    assert shown["tenant_id"] == cloud.projects[A]
    assert cloud.ids_of("a_private", "b_private", "public") <= cloud.image_ids("admin")


# --- A's reader: reads everything of A, changes nothing ----------------------------------------


def test_a_reader_reads_the_projects_servers_and_images(cloud: Cloud) -> None:
    for name in A_SERVERS:
        assert cloud.ok("rita", "GET", f"{SERVERS}/{cloud.ids[name]}")["server"]["name"] == name
    assert cloud.ok("rita", "GET", f"{IMAGES}/{{a_private}}")["name"] == "a_private"
    assert cloud.call("rita", "GET", f"{IMAGES}/{{a_private}}/file").content == A_BYTES


BOOT = {"server": {"name": "r", "imageRef": "{public}", "flavorRef": "1", "networks": "none"}}
STOP, START, QUOTA = {"os-stop": None}, {"os-start": None}, {"quota_set": {"instances": 99}}
READER_WRITES = [
    pytest.param("POST", SERVERS, {"json": BOOT}, id="boot"),
    pytest.param("DELETE", f"{SERVERS}/{{a_build}}", {}, id="delete-unplaced"),
    pytest.param("DELETE", f"{SERVERS}/{{a_active}}", {}, id="delete-active"),
    pytest.param("POST", f"{SERVERS}/{{a_active}}/action", {"json": STOP}, id="stop"),
    pytest.param("POST", f"{SERVERS}/{{a_stopped}}/action", {"json": START}, id="start"),
    pytest.param("POST", IMAGES, {"json": {"name": "r", "visibility": "private"}}, id="image"),
    pytest.param("DELETE", f"{IMAGES}/{{a_private}}", {}, id="image-delete"),
    pytest.param("PUT", f"{IMAGES}/{{a_private}}/file", {"content": b"x"}, id="image-upload"),
    pytest.param("PUT", f"{QUOTAS}/{{a_project}}", {"json": QUOTA}, id="quota"),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), READER_WRITES)
def test_a_reader_is_refused_every_write(
    cloud: Cloud, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = cloud.call("rita", method, path, **kwargs)
    assert response.status_code == 403, response.text
    assert cloud.image_ids("rita") == cloud.ids_of("public", "a_private")  # none created
    _unchanged(cloud)


# --- public images: every project sees them, only admins change them ----------------------------


@pytest.mark.parametrize("user", ["alice", "rita", "bob"])
def test_public_images_are_visible_to_every_project(cloud: Cloud, user: str) -> None:
    assert cloud.ok(user, "GET", f"{IMAGES}/{{public}}")["visibility"] == "public"
    assert cloud.call(user, "GET", f"{IMAGES}/{{public}}/file").content == b"public bytes"
    assert cloud.call(user, "DELETE", f"{IMAGES}/{{public}}").status_code == 403
    publish = {"name": "mine", "visibility": "public"}
    assert cloud.call(user, "POST", IMAGES, json=publish).status_code == 403
    assert cloud.ids["public"] in cloud.image_ids(user)
    assert cloud.image_ids("bob") == cloud.ids_of("public", "b_private")
