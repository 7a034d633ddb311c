"""A cloud for the Networking API's tests: the API in this process on a
real PostgreSQL, the projector in a thread, seeded as `cloudledger run`
seeds (the shared `private` network, the external `public` one and a router
joining them), with projects A and B and their users."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from integration.helpers import LoopThread

from api.app import build_state, create_app
from api.context import ApiState
from commands.bootstrap import Settings, eventsourcing_env
from commands.catalog import CreateFlavor, RegisterHost
from commands.identity import CreateProject, CreateUser
from commands.images import CreateImage
from domain.values import SYSTEM
from ops.postgres import PrivateCluster
from ops.seed import seed_networks
from projections.bootstrap import Projector, build_group

NET = "/networking/v2.0"
COMPUTE = "/compute/v2.1"
A, B = "proj-a", "proj-b"
USERS = {  # user: (project, roles); every password is "pw"
    "admin": ("admin", ("admin",)),
    "alice": (A, ("member",)),
    "bob": (B, ("member",)),
    "rita": (A, ("reader",)),
}


@dataclass
class Rig:
    loop: LoopThread
    client: httpx.AsyncClient
    state: ApiState
    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)  # name -> id
    ids: dict[str, str] = field(default_factory=dict)

    def call(self, user: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Auth-Token": self.tokens[user]} if user else {}
        headers.update(kwargs.pop("headers", {}))
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

    def named(self, user: str, collection: str, name: str) -> dict[str, Any]:
        key = collection.replace("-", "_")
        (found,) = self.ok(user, "GET", f"{NET}/{collection}?name={name}")[key]
        return dict(found)


def seed(rig: Rig) -> None:
    services = rig.state.services
    for project in ("admin", A, B):
        services.create_project(CreateProject(project, ""), SYSTEM)
    for user, (project, roles) in USERS.items():
        services.create_user(CreateUser(user, "pw", project, roles), SYSTEM)
    services.create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), SYSTEM)
    services.register_host(RegisterHost("compute-1", vcpus=64, ram_mb=65536, disk_gb=500), SYSTEM)
    image = services.create_image(CreateImage("cirros", "raw", visibility="public"), SYSTEM)
    services.upload_image(str(image.id), [b"public bytes"], SYSTEM)
    rig.ids["image"] = str(image.id)
    seed_networks(services)
    for user in USERS:
        rig.login(user)


@contextmanager
def running_rig(
    pg_cluster: PrivateCluster, template_database: str, state_dir: str
) -> Iterator[Rig]:
    name = f"netrig_{os.getpid()}_{threading.get_ident() % 100000}"
    pg_cluster.create_database(name, template=template_database)
    url = pg_cluster.url(name)
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
    loop.run(api_state.reads.open())
    loop.run(api_state.progress.start(wait_ready=5.0))
    app = create_app(api_state, settings.max_json_body_bytes)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=120
    )
    try:
        rig = Rig(loop, client, api_state, url)
        seed(rig)
        yield rig
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


def bobs_network(rig: Rig) -> tuple[str, str]:
    network = rig.ok("bob", "POST", f"{NET}/networks", json={"network": {"name": "b"}})["network"]
    body = {"subnet": {"network_id": network["id"], "cidr": "10.60.0.0/24", "ip_version": 4}}
    return network["id"], rig.ok("bob", "POST", f"{NET}/subnets", json=body)["subnet"]["id"]


def boot_body(rig: Rig, networks: list[dict[str, str]]) -> dict[str, Any]:
    server = {"name": "vm", "imageRef": rig.ids["image"], "flavorRef": "1", "networks": networks}
    return {"server": server}
