"""Identity over HTTP with two API processes on one ledger: every way to
scope a token, what unscoped tokens may do, validation, and revocation
that holds on the *other* process within a second. Bad input appends
nothing."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from integration.helpers import LoopThread

from api.app import build_state, create_app
from api.context import ApiState
from commands.bootstrap import Settings, eventsourcing_env
from commands.domains import CreateDomain
from commands.identity import CreateProject, CreateUser
from domain.values import SYSTEM
from ops.postgres import PrivateCluster
from ops.service_users import ensure_service_users
from projections.bootstrap import Projector, build_group, postgres_recorder
from workers.service_auth import SERVICE_PROJECT, service_user_name

TOKENS = "/identity/v3/auth/tokens"
WITHIN_S = 1.0  # revocations hold on every API process within a second


@dataclass
class Api:
    """One API process's state, driven through httpx's ASGI transport."""

    state: ApiState
    client: httpx.AsyncClient


@dataclass
class Cloud:
    loop: LoopThread
    apis: list[Api]
    domain_id: str

    def call(self, n: int, method: str, path: str, token: str = "", **kw: Any) -> httpx.Response:
        headers = {**kw.pop("headers", {}), **({"X-Auth-Token": token} if token else {})}
        request = self.apis[n].client.request(method, path, headers=headers, **kw)
        return self.loop.run(request)

    def login(self, n: int = 0, **auth: Any) -> httpx.Response:
        return self.call(n, "POST", TOKENS, json={"auth": auth})

    def token(self, n: int = 0, **auth: Any) -> str:
        response = self.login(n, **auth)
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]

    def admin(self) -> str:
        return self.token(identity=_password({"name": "admin"}), scope=_project("admin"))

    def ledger_end(self) -> int:
        return postgres_recorder(self.apis[0].state.services.app).max_notification_id() or 0


def _password(user: dict[str, Any], password: str = "pw") -> dict[str, Any]:
    user = {"domain": {"id": "default"}, **user} if "name" in user else user
    return {"methods": ["password"], "password": {"user": {**user, "password": password}}}


def _project(name: str, domain: dict[str, str] | None = None) -> dict[str, Any]:
    return {"project": {"name": name, "domain": domain or {"id": "default"}}}


@pytest.fixture(scope="module")
def cloud(
    pg_cluster: PrivateCluster, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cloud]:
    name = f"identity_api_{os.getpid()}"
    pg_cluster.create_database(name, template=template_database)
    url = pg_cluster.url(name)
    settings = Settings.from_env(
        {
            "CLOUDLEDGER_DATABASE_URL": url,
            "CLOUDLEDGER_STATE_DIR": str(tmp_path_factory.mktemp("identity")),
        }
    )
    states = [build_state(settings), build_state(settings)]  # two API processes
    services = states[0].services
    group = build_group(eventsourcing_env(url))
    stop = threading.Event()
    projecting = threading.Thread(
        target=Projector(services.app, group, url).run, args=(stop,), name="projector"
    )
    projecting.start()
    loop = LoopThread()
    apis = []
    for api_state in states:
        loop.run(api_state.reads.open())
        loop.run(api_state.progress.start(wait_ready=5.0))
        transport = httpx.ASGITransport(app=create_app(api_state, settings.max_json_body_bytes))
        apis.append(Api(api_state, httpx.AsyncClient(transport=transport, base_url="http://api")))
    try:
        for project in ("admin", "alpha", "beta"):
            services.create_project(CreateProject(project), SYSTEM)
        services.create_user(CreateUser("admin", "pw", "admin", ("admin",)), SYSTEM)
        east = services.create_domain(CreateDomain("east"), SYSTEM)
        domain_id = services.app.repository.get(east.id).domain_id
        services.create_project(CreateProject("alpha", domain_id=domain_id), SYSTEM)
        yield Cloud(loop, apis, domain_id)
    finally:
        for api, api_state in zip(apis, states, strict=True):
            loop.run(api.client.aclose())
            loop.run(api_state.progress.stop())
            loop.run(api_state.reads.close())
            api_state.services.app.close()
        loop.stop()
        stop.set()
        projecting.join()
        group.datastore.close()
        pg_cluster.drop_database(name)


def _new_user(cloud: Cloud, name: str, project: str = "alpha", role: str = "member") -> str:
    """A user with a role on a project of the default domain, made over HTTP."""
    admin = cloud.admin()
    projects = cloud.call(0, "GET", f"/identity/v3/projects?name={project}", admin).json()
    (project_id,) = [p["id"] for p in projects["projects"] if p["domain_id"] == "default"]
    body = {"user": {"name": name, "password": "pw", "default_project_id": project_id}}
    made = cloud.call(0, "POST", "/identity/v3/users", admin, json=body)
    assert made.status_code == 201, made.text
    user_id = str(made.json()["user"]["id"])
    path = f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role}"
    assert cloud.call(0, "PUT", path, admin).status_code == 204
    return user_id


def _refused_on_both_within_a_second(cloud: Cloud, token: str) -> float:
    """Seconds until the token is refused by both API processes."""
    start = time.monotonic()
    while True:
        codes = [cloud.call(n, "GET", "/compute/v2.1/servers", token).status_code for n in (0, 1)]
        elapsed = time.monotonic() - start
        if codes == [401, 401]:
            return elapsed
        assert elapsed < WITHIN_S, f"still {codes} after {elapsed:.2f} s"
        time.sleep(0.01)


# --- scoping -----------------------------------------------------------------------


def test_a_token_by_user_id_and_project_id_names_both_with_their_domains(cloud: Cloud) -> None:
    user_id = _new_user(cloud, "ids")
    first = cloud.login(identity=_password({"name": "ids"}), scope=_project("alpha")).json()
    project_id = first["token"]["project"]["id"]
    response = cloud.login(
        identity=_password({"id": user_id}), scope={"project": {"id": project_id}}
    )
    assert response.status_code == 201
    token = response.json()["token"]
    assert token["user"] == {
        "id": user_id,
        "name": "ids",
        "domain": {"id": "default", "name": "Default"},
        "password_expires_at": None,
    }
    assert token["project"] == {
        "id": project_id,
        "name": "alpha",
        "domain": {"id": "default", "name": "Default"},
    }
    assert [r["name"] for r in token["roles"]] == ["member"]
    assert token["catalog"]


def test_project_names_are_per_domain_and_scoping_by_domain_name_finds_the_right_one(
    cloud: Cloud,
) -> None:
    admin = cloud.admin()
    east_alpha = cloud.call(
        0, "GET", f"/identity/v3/projects?name=alpha&domain_id={cloud.domain_id}", admin
    ).json()["projects"]
    assert [p["domain_id"] for p in east_alpha] == [cloud.domain_id]
    user_id = _new_user(cloud, "east-member")
    path = f"/identity/v3/projects/{east_alpha[0]['id']}/users/{user_id}/roles/reader"
    assert cloud.call(0, "PUT", path, admin).status_code == 204
    token = cloud.login(
        identity=_password({"name": "east-member"}), scope=_project("alpha", {"name": "east"})
    ).json()["token"]
    assert token["project"]["id"] == east_alpha[0]["id"]
    assert token["project"]["domain"] == {"id": cloud.domain_id, "name": "east"}
    assert [r["name"] for r in token["roles"]] == ["reader"]


def test_a_domain_scoped_token_carries_the_domain_roles_and_reaches_no_project(
    cloud: Cloud,
) -> None:
    user_id = _new_user(cloud, "domain-admin")
    admin = cloud.admin()
    path = f"/identity/v3/domains/{cloud.domain_id}/users/{user_id}/roles/member"
    assert cloud.call(0, "PUT", path, admin).status_code == 204
    assert cloud.call(0, "GET", path, admin).status_code == 204  # the grant, checked
    response = cloud.login(
        identity=_password({"name": "domain-admin"}), scope={"domain": {"id": cloud.domain_id}}
    )
    assert response.status_code == 201
    token = response.json()["token"]
    assert token["domain"] == {"id": cloud.domain_id, "name": "east"}
    assert "project" not in token
    subject = response.headers["X-Subject-Token"]
    assert cloud.call(0, "GET", "/compute/v2.1/servers", subject).status_code == 403
    domains = cloud.call(0, "GET", "/identity/v3/auth/domains", subject).json()["domains"]
    assert [d["id"] for d in domains] == [cloud.domain_id]


def test_no_scope_means_the_default_project_and_unscoped_means_none(cloud: Cloud) -> None:
    _new_user(cloud, "defaulted")
    scoped = cloud.login(identity=_password({"name": "defaulted"})).json()["token"]
    assert scoped["project"]["name"] == "alpha"
    response = cloud.login(identity=_password({"name": "defaulted"}), scope="unscoped")
    token = response.json()["token"]
    assert "project" not in token and token["roles"] == [] and token["catalog"] == []
    unscoped = response.headers["X-Subject-Token"]
    assert cloud.call(0, "GET", "/compute/v2.1/servers", unscoped).status_code == 403
    projects = cloud.call(0, "GET", "/identity/v3/auth/projects", unscoped).json()["projects"]
    assert [p["name"] for p in projects] == ["alpha"]


def test_a_wrong_scope_is_refused_as_vaguely_as_a_wrong_password(cloud: Cloud) -> None:
    _new_user(cloud, "vague")
    answers = [
        cloud.login(identity=_password({"name": "vague"}), scope=_project("beta")),  # no role
        cloud.login(identity=_password({"name": "vague"}), scope=_project("nowhere")),
        cloud.login(identity=_password({"name": "vague"}, "wrong"), scope=_project("alpha")),
        cloud.login(identity=_password({"name": "vague"}), scope={"domain": {"name": "east"}}),
    ]
    assert {(r.status_code, r.json()["error"]["message"]) for r in answers} == {
        (401, "The request you have made requires authentication.")
    }


# --- validation and revocation -------------------------------------------------------


def test_tokens_are_validated_by_their_owner_or_an_admin_with_get_and_head(cloud: Cloud) -> None:
    _new_user(cloud, "validator")
    _new_user(cloud, "nosy")
    own = cloud.token(identity=_password({"name": "validator"}), scope=_project("alpha"))
    nosy = cloud.token(identity=_password({"name": "nosy"}), scope=_project("alpha"))
    subject = {"X-Subject-Token": own}
    shown = cloud.call(1, "GET", TOKENS, own, headers=subject)
    assert shown.status_code == 200 and shown.json()["token"]["user"]["name"] == "validator"
    assert (
        "catalog"
        not in cloud.call(1, "GET", f"{TOKENS}?nocatalog", own, headers=subject).json()["token"]
    )
    head = cloud.call(1, "HEAD", TOKENS, cloud.admin(), headers=subject)
    assert (head.status_code, head.content) == (200, b"")
    assert cloud.call(1, "GET", TOKENS, nosy, headers=subject).status_code == 403
    assert cloud.call(1, "DELETE", TOKENS, nosy, headers=subject).status_code == 403
    bogus = {"X-Subject-Token": own[:-4] + "AAAA"}
    assert cloud.call(1, "GET", TOKENS, own, headers=bogus).status_code == 404


def test_a_revoked_token_is_refused_by_the_other_api_process_within_a_second(
    cloud: Cloud,
) -> None:
    _new_user(cloud, "revoked")
    token = cloud.token(identity=_password({"name": "revoked"}), scope=_project("alpha"))
    other = cloud.token(identity=_password({"name": "revoked"}), scope=_project("alpha"))
    assert cloud.call(1, "GET", "/compute/v2.1/servers", token).status_code == 200
    revoked = cloud.call(0, "DELETE", TOKENS, token, headers={"X-Subject-Token": token})
    assert revoked.status_code == 204
    _refused_on_both_within_a_second(cloud, token)
    assert cloud.call(1, "GET", "/compute/v2.1/servers", other).status_code == 200  # only that one


@pytest.mark.parametrize(
    "change", ["disable user", "change password", "remove role", "disable project"]
)
def test_each_change_revokes_existing_tokens_on_every_process(cloud: Cloud, change: str) -> None:
    name = f"rev-{change.replace(' ', '-')}"
    project = f"proj-{name}"
    admin = cloud.admin()
    made = cloud.call(
        0, "POST", "/identity/v3/projects", admin, json={"project": {"name": project}}
    )
    project_id = made.json()["project"]["id"]
    user_id = _new_user(cloud, name, project)
    token = cloud.token(identity=_password({"name": name}), scope=_project(project))
    assert cloud.call(1, "GET", "/compute/v2.1/servers", token).status_code == 200
    if change == "disable user":
        body = {"user": {"enabled": False}}
        response = cloud.call(0, "PATCH", f"/identity/v3/users/{user_id}", admin, json=body)
    elif change == "change password":
        body = {"user": {"password": "n3w", "original_password": "pw"}}
        response = cloud.call(0, "POST", f"/identity/v3/users/{user_id}/password", token, json=body)
    elif change == "remove role":
        path = f"/identity/v3/projects/{project_id}/users/{user_id}/roles/member"
        response = cloud.call(0, "DELETE", path, admin)
    else:
        body = {"project": {"enabled": False}}
        response = cloud.call(0, "PATCH", f"/identity/v3/projects/{project_id}", admin, json=body)
    assert response.status_code in (200, 204), response.text
    _refused_on_both_within_a_second(cloud, token)


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/identity/v3/projects", {"project": {"name": "x" * 65536}}, 400),
        ("POST", "/identity/v3/users", {"user": {"name": "x" * 65536, "password": "pw"}}, 400),
        ("POST", "/identity/v3/domains", {"domain": {"name": "x" * 65536}}, 400),
        ("POST", "/identity/v3/projects", {"project": {"name": "alpha"}}, 409),
        ("POST", "/identity/v3/domains", {"domain": {"name": "east"}}, 409),
        ("POST", "/identity/v3/domains", {"domain": {"name": "Default"}}, 409),
        ("POST", "/identity/v3/projects", {"project": {"name": "p", "domain_id": "nope"}}, 404),
        ("POST", "/identity/v3/users", {"user": {"name": "u", "password": ""}}, 400),
        ("POST", "/identity/v3/roles", {"role": {"name": "member"}}, 409),
        ("PATCH", "/identity/v3/projects/nope", {"project": {"enabled": False}}, 404),
        ("DELETE", "/identity/v3/domains/default", None, 403),
        # A NUL stored in an event once stopped the projector for every read model.
        ("POST", "/identity/v3/domains", {"domain": {"name": "n", "description": "a\u0000"}}, 400),
        ("POST", "/identity/v3/projects", {"project": {"name": "n", "description": "\u0000"}}, 400),
        ("POST", "/identity/v3/roles", {"role": {"name": "n", "description": "\u0000"}}, 400),
    ],
)
def test_bad_identity_requests_get_a_clear_4xx_and_append_nothing(
    cloud: Cloud, method: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    admin = cloud.admin()
    before = cloud.ledger_end()
    response = cloud.call(0, method, path, admin, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
    assert cloud.ledger_end() == before


def test_an_enabled_domain_is_not_deleted_and_a_full_one_not_at_all(cloud: Cloud) -> None:
    admin = cloud.admin()
    path = f"/identity/v3/domains/{cloud.domain_id}"
    before = cloud.ledger_end()
    assert cloud.call(0, "DELETE", path, admin).status_code == 409  # it holds a project
    assert cloud.ledger_end() == before
    made = cloud.call(0, "POST", "/identity/v3/domains", admin, json={"domain": {"name": "tmp"}})
    tmp = made.json()["domain"]["id"]
    assert cloud.call(0, "DELETE", f"/identity/v3/domains/{tmp}", admin).status_code == 403
    body = {"domain": {"enabled": False}}
    assert (
        cloud.call(0, "PATCH", f"/identity/v3/domains/{tmp}", admin, json=body).status_code == 200
    )
    assert cloud.call(0, "DELETE", f"/identity/v3/domains/{tmp}", admin).status_code == 204
    assert cloud.call(0, "GET", f"/identity/v3/domains/{tmp}", admin).status_code == 404


def test_effective_assignments_include_the_roles_a_role_implies(cloud: Cloud) -> None:
    user_id = _new_user(cloud, "implied", role="admin")
    admin = cloud.admin()
    path = f"/identity/v3/role_assignments?user.id={user_id}"
    direct = cloud.call(0, "GET", path, admin).json()["role_assignments"]
    assert [a["role"]["id"] for a in direct] == ["admin"]
    effective = cloud.call(0, "GET", f"{path}&effective", admin).json()["role_assignments"]
    assert sorted(a["role"]["id"] for a in effective) == ["admin", "member", "reader"]
    only = cloud.call(0, "GET", f"{path}&effective&role.id=reader", admin).json()
    assert [a["role"]["id"] for a in only["role_assignments"]] == ["reader"]


def test_a_service_user_downloads_any_projects_image_and_does_nothing_else(
    cloud: Cloud, tmp_path: Path
) -> None:
    services = cloud.apis[0].state.services
    settings = Settings.from_env({"CLOUDLEDGER_STATE_DIR": str(tmp_path)})
    ensure_service_users(services, settings, ["compute"])
    password_file = settings.service_password_file("compute")
    assert password_file.stat().st_mode & 0o777 == 0o600
    password = password_file.read_text()
    assert ensure_service_users(services, settings, ["compute"]) == []  # made once
    service = cloud.token(
        identity=_password({"name": service_user_name("compute")}, password),
        scope=_project(SERVICE_PROJECT),
    )
    _new_user(cloud, "image-owner", "beta")
    owner = cloud.token(identity=_password({"name": "image-owner"}), scope=_project("beta"))
    body = {"name": "private-one", "disk_format": "raw"}
    image = cloud.call(0, "POST", "/image/v2/images", owner, json=body)
    image_id = image.json()["id"]
    upload = f"/image/v2/images/{image_id}/file"
    assert cloud.call(0, "PUT", upload, owner, content=b"disk bytes").status_code == 204
    fetched = cloud.call(1, "GET", upload, service)
    assert (fetched.status_code, fetched.content) == (200, b"disk bytes")
    queued = cloud.call(0, "POST", "/image/v2/images", owner, json={"name": "not-a-snapshot"})
    other = f"/image/v2/images/{queued.json()['id']}/file"
    assert cloud.call(1, "PUT", other, service, content=b"x").status_code == 403  # snapshots only
    assert cloud.call(1, "GET", "/image/v2/images", service).status_code == 403
    assert cloud.call(1, "GET", "/compute/v2.1/servers", service).status_code == 403
    made = cloud.call(1, "POST", "/identity/v3/projects", service, json={"project": {"name": "x"}})
    assert made.status_code == 403
    assert password not in "".join(
        n.state.decode(errors="replace")
        for n in postgres_recorder(services.app).select_notifications(start=1, limit=100_000)
    )
