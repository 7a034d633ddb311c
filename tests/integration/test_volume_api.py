"""The Block Storage v3 API and Nova's volume attachments over HTTP, with the
API in this process on a real PostgreSQL and the projector in a thread (no
workers: the hosts' part is done by command, as the workers will record it).

Shapes are checked against Cinder's api-ref and tempest's response schemas
(required keys present, nothing else), statuses against Cinder's, and every
id a tenant sends against the same visibility as the thing itself."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from integration.helpers import LoopThread

from api.app import build_state, create_app
from commands import compute, volume_host
from commands.bootstrap import Settings, eventsourcing_env
from commands.catalog import CreateFlavor, RegisterHost
from commands.identity import CreateProject, CreateUser
from commands.images import CreateImage
from commands.services import Services
from domain.values import SYSTEM
from ops.postgres import PrivateCluster
from projections.bootstrap import Projector, build_group

A, B = "vol-a", "vol-b"
USERS = {
    "admin": ("admin", ("admin",)),
    "alice": (A, ("member",)),
    "bob": (B, ("member",)),
    "rita": (A, ("reader",)),
}
HOST = volume_host.host_actor("volume")
COMPUTE = "/compute/v2.1"

# Cinder's volume (tempest's schema: these keys, and only these and the
# extensions' below, at 3.0).
VOLUME_KEYS = {
    "id", "status", "size", "availability_zone", "created_at", "updated_at", "name",
    "description", "volume_type", "snapshot_id", "source_volid", "metadata", "links",
    "user_id", "bootable", "encrypted", "replication_status", "consistencygroup_id",
    "multiattach", "attachments",
}  # fmt: skip
EXTENSION_KEYS = {"os-vol-tenant-attr:tenant_id", "volume_image_metadata"}
ADMIN_KEYS = {
    "migration_status", "os-vol-host-attr:host", "os-vol-mig-status-attr:migstat",
    "os-vol-mig-status-attr:name_id",
}  # fmt: skip
SNAPSHOT_KEYS = {
    "id", "status", "size", "created_at", "updated_at", "name", "description", "volume_id",
    "metadata",
}  # fmt: skip
SNAPSHOT_DETAIL_KEYS = SNAPSHOT_KEYS | {
    "os-extended-snapshot-attributes:progress",
    "os-extended-snapshot-attributes:project_id",
}
LIMIT_KEYS = {
    "totalSnapshotsUsed", "maxTotalBackups", "maxTotalVolumeGigabytes", "maxTotalSnapshots",
    "maxTotalBackupGigabytes", "totalBackupGigabytesUsed", "maxTotalVolumes",
    "totalVolumesUsed", "totalBackupsUsed", "totalGigabytesUsed",
}  # fmt: skip
ATTACHMENT_KEYS = {
    "server_id",
    "attachment_id",
    "attached_at",
    "host_name",
    "volume_id",
    "device",
    "id",
}


@dataclass
class Cloud:
    loop: LoopThread
    client: httpx.AsyncClient
    services: Services
    tokens: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)  # user -> project id
    image_id: str = ""

    def call(
        self, user: str | None, method: str, path: str, version: str = "", **kwargs: Any
    ) -> httpx.Response:
        headers = {"X-Auth-Token": self.tokens[user]} if user else {}
        headers.update(kwargs.pop("headers", {}))
        if version:
            headers["OpenStack-API-Version"] = f"volume {version}"
        path = path.replace("{p}", self.projects.get(user or "", "none"))
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
        self.projects[user] = response.json()["token"]["project"]["id"]

    def create(self, user: str, **volume: Any) -> dict[str, Any]:
        body = {"volume": {"size": 1, **volume}}
        found: dict[str, Any] = self.ok(user, "POST", "/volume/v3/{p}/volumes", json=body)["volume"]
        return found

    def show(self, user: str, volume_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok(user, "GET", f"/volume/v3/{{p}}/volumes/{volume_id}")[
            "volume"
        ]
        return found

    def available(self, user: str, **volume: Any) -> str:
        """A volume its host has made (the volume worker's part, by command)."""
        volume_id = str(self.create(user, **volume)["id"])
        volume_host.mark_available(
            self.services.app, UUID(volume_id), "storage-1", "127.0.0.1:3260", HOST
        )
        wait_for(lambda: self.show(user, volume_id)["status"] == "available")
        return volume_id

    def server(self, user: str) -> str:
        server = {"name": "vm", "imageRef": self.image_id, "flavorRef": "1", "networks": "none"}
        response = self.ok(user, "POST", f"{COMPUTE}/servers", json={"server": server})
        server_id = str(response["server"]["id"])
        assert compute.claim_host(self.services.app, UUID(server_id), "compute-1")
        compute.finish_spawn(self.services.app, UUID(server_id))
        wait_for(
            lambda: (
                self.ok(user, "GET", f"{COMPUTE}/servers/{server_id}")["server"]["status"]
                == "ACTIVE"
            )
        )
        return server_id


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the read models never showed it"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def cloud(
    pg_cluster: PrivateCluster, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cloud]:
    name = f"volumes_{os.getpid()}"
    pg_cluster.create_database(name, template=template_database)
    url = pg_cluster.url(name)
    state_dir = str(tmp_path_factory.mktemp("volumes"))
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
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    services = api_state.services
    try:
        cloud = Cloud(loop, client, services)
        for project in ("admin", A, B):
            services.create_project(CreateProject(project, ""), SYSTEM)
        for user, (project, roles) in USERS.items():
            services.create_user(CreateUser(user, "pw", project, roles), SYSTEM)
            cloud.login(user)
        # The module's tests make many volumes in A: room for them all.
        services.update_quota(cloud.projects["alice"], {"volumes": 100}, SYSTEM)
        services.create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), SYSTEM)
        services.register_host(RegisterHost("compute-1", 64, 65536, 500), SYSTEM)
        image = services.create_image(
            CreateImage("cirros", disk_format="raw", visibility="public"), SYSTEM
        )
        services.upload_image(str(image.id), [b"public bytes"], SYSTEM)
        cloud.image_id = str(image.id)
        yield cloud
    finally:
        loop.run(client.aclose())
        loop.run(api_state.progress.stop())
        loop.run(api_state.reads.close())
        loop.stop()
        stop.set()
        projecting.join()
        group.datastore.close()
        services.app.close()
        pg_cluster.drop_database(name)


# --- discovery ------------------------------------------------------------------------


def test_the_catalog_names_block_storage_with_the_project(cloud: Cloud) -> None:
    headers = {"X-Subject-Token": cloud.tokens["alice"]}
    token = cloud.ok("alice", "GET", "/identity/v3/auth/tokens", headers=headers)["token"]
    found = {s["type"]: s["endpoints"][0]["url"] for s in token["catalog"]}
    expected = f"http://api/volume/v3/{cloud.projects['alice']}"
    assert found["block-storage"] == found["volumev3"] == expected


def test_version_documents_name_the_microversion_range(cloud: Cloud) -> None:
    root = cloud.call(None, "GET", "/volume/")
    assert root.status_code == 300
    (doc,) = root.json()["versions"]
    assert (doc["id"], doc["min_version"], doc["version"]) == ("v3.0", "3.0", "3.70")
    assert cloud.call(None, "GET", "/volume/v3/").json()["versions"] == [doc]


@pytest.mark.parametrize(
    ("asked", "status", "served"),
    [("", 200, "3.0"), ("3.63", 200, "3.63"), ("latest", 200, "3.70"), ("3.99", 406, None),
     ("abc", 400, None)],
)  # fmt: skip
def test_microversions_are_negotiated_as_cinder_does(
    cloud: Cloud, asked: str, status: int, served: str | None
) -> None:
    response = cloud.call("alice", "GET", "/volume/v3/{p}/volumes", version=asked)
    assert response.status_code == status, response.text
    if served:
        assert response.headers["OpenStack-API-Version"] == f"volume {served}"
    else:
        (key,) = response.json()  # Cinder has no name of its own for 406
        assert key == ("computeFault" if status == 406 else "badRequest")


# --- volumes ------------------------------------------------------------------------


def test_create_answers_202_with_cinders_shape(cloud: Cloud) -> None:
    created = cloud.create("alice", name="data", description="d", metadata={"k": "v"})
    assert set(created) == VOLUME_KEYS
    assert (created["status"], created["size"], created["bootable"]) == ("creating", 1, "false")
    assert created["volume_type"] == "__DEFAULT__"
    assert created["metadata"] == {"k": "v"}
    shown = cloud.show("alice", created["id"])
    assert set(shown) == VOLUME_KEYS | {"os-vol-tenant-attr:tenant_id"}
    assert shown["os-vol-tenant-attr:tenant_id"] == cloud.projects["alice"]
    admin = cloud.ok("admin", "GET", f"/volume/v3/{{p}}/volumes/{created['id']}")["volume"]
    assert set(admin) >= ADMIN_KEYS


def test_newer_microversions_add_their_fields(cloud: Cloud) -> None:
    volume_id = cloud.create("alice")["id"]
    shown = cloud.call("alice", "GET", f"/volume/v3/{{p}}/volumes/{volume_id}", version="3.70")
    volume = shown.json()["volume"]
    assert (
        volume["volume_type_id"]
        == cloud.ok("alice", "GET", "/volume/v3/{p}/types/default")["volume_type"]["id"]
    )
    assert volume["consumes_quota"] is True
    assert {"group_id", "shared_targets", "service_uuid"} <= set(volume)


@pytest.mark.parametrize(
    "volume",
    [{}, {"size": 0}, {"size": -1}, {"size": "abc"}, {"size": 1.5}, {"size": True},
     {"size": 1, "name": "x" * 256}, {"size": 1, "availability_zone": "nowhere"}],
)  # fmt: skip
def test_a_bad_create_is_a_400_in_cinders_error_shape(cloud: Cloud, volume: dict[str, Any]) -> None:
    response = cloud.call("alice", "POST", "/volume/v3/{p}/volumes", json={"volume": volume})
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"badRequest"}
    assert response.json()["badRequest"]["code"] == 400


@pytest.mark.parametrize("kind", ["source_volid", "snapshot_id", "volume_type"])
def test_an_unknown_source_or_type_is_404(cloud: Cloud, kind: str) -> None:
    body = {"volume": {"size": 1, kind: str(uuid4())}}
    response = cloud.call("alice", "POST", "/volume/v3/{p}/volumes", json=body)
    assert response.status_code == 404, response.text
    assert "itemNotFound" in response.json()


def test_another_projects_volume_is_404_like_an_unknown_one(cloud: Cloud) -> None:
    theirs = cloud.available("bob")
    for target in (theirs, str(uuid4()), "not-an-id"):
        for method, suffix, body in (
            ("GET", "", None),
            ("PUT", "", {"volume": {"name": "mine"}}),
            ("DELETE", "", None),
            ("POST", "/action", {"os-extend": {"new_size": 2}}),
            ("GET", "/metadata", None),
        ):
            response = cloud.call(
                "alice", method, f"/volume/v3/{{p}}/volumes/{target}{suffix}", json=body
            )
            assert response.status_code == 404, (method, suffix, response.text)
        clone = cloud.call(
            "alice", "POST", "/volume/v3/{p}/volumes", json={"volume": {"source_volid": target}}
        )
        assert clone.status_code == 404
    assert cloud.show("bob", theirs)["name"] is None  # untouched


def test_the_url_must_name_the_callers_project(cloud: Cloud) -> None:
    other = cloud.projects["bob"]
    response = cloud.call("alice", "GET", f"/volume/v3/{other}/volumes")
    assert response.status_code == 400
    assert response.json()["badRequest"]["message"] == "Malformed request url"


def test_a_reader_reads_but_never_writes(cloud: Cloud) -> None:
    volume_id = cloud.available("alice")
    assert cloud.show("rita", volume_id)["id"] == volume_id
    for method, path, body in (
        ("POST", "/volume/v3/{p}/volumes", {"volume": {"size": 1}}),
        ("DELETE", f"/volume/v3/{{p}}/volumes/{volume_id}", None),
        ("POST", f"/volume/v3/{{p}}/volumes/{volume_id}/action", {"os-extend": {"new_size": 2}}),
    ):
        response = cloud.call("rita", method, path, json=body)
        assert response.status_code == 403, response.text
        assert "forbidden" in response.json()


def test_lists_filter_sort_and_page_as_cinder(cloud: Cloud) -> None:
    names = [f"page-{n}" for n in range(3)]
    ids = {cloud.create("bob", name=n, metadata={"set": "paged"})["id"] for n in names}
    base = "/volume/v3/{p}/volumes/detail?metadata=%7B%27set%27%3A+%27paged%27%7D"
    seen: list[str] = []
    url = f"{base}&limit=1&sort_key=name&sort_dir=asc"
    while url:
        body = cloud.ok("bob", "GET", url)
        seen += [v["name"] for v in body["volumes"]]
        nxt = [link["href"] for link in body.get("volumes_links", []) if link["rel"] == "next"]
        url = nxt[0].removeprefix("http://api") if nxt else ""
    assert seen == names
    by_name = cloud.ok("bob", "GET", "/volume/v3/{p}/volumes?name=page-1")["volumes"]
    assert [v["name"] for v in by_name] == ["page-1"]
    assert {v["id"] for v in by_name} <= ids
    assert set(by_name[0]) == {"id", "name", "links"}
    assert cloud.ok("bob", "GET", "/volume/v3/{p}/volumes?status=null")["volumes"] == []
    unknown = cloud.call("bob", "GET", "/volume/v3/{p}/volumes?colour=red")
    assert unknown.status_code == 400


def test_all_tenants_is_an_admins(cloud: Cloud) -> None:
    theirs = cloud.create("bob")["id"]
    mine = {
        v["id"] for v in cloud.ok("alice", "GET", "/volume/v3/{p}/volumes?all_tenants=1")["volumes"]
    }
    assert theirs not in mine
    every = cloud.ok("admin", "GET", "/volume/v3/{p}/volumes?all_tenants=1&limit=1000")["volumes"]
    assert theirs in {v["id"] for v in every}


def test_update_metadata_bootable_and_readonly(cloud: Cloud) -> None:
    volume_id = cloud.available("alice")
    path = f"/volume/v3/{{p}}/volumes/{volume_id}"
    updated = cloud.ok("alice", "PUT", path, json={"volume": {"name": "renamed"}})["volume"]
    assert updated["name"] == "renamed"
    assert set(updated) == VOLUME_KEYS
    cloud.ok("alice", "POST", f"{path}/metadata", json={"metadata": {"a": "1", "b": "2"}})
    assert cloud.ok("alice", "GET", f"{path}/metadata/a") == {"meta": {"a": "1"}}
    cloud.ok("alice", "PUT", f"{path}/metadata/a", json={"meta": {"a": "3"}})
    mismatch = cloud.call("alice", "PUT", f"{path}/metadata/a", json={"meta": {"b": "3"}})
    assert mismatch.status_code == 400
    assert cloud.call("alice", "DELETE", f"{path}/metadata/b").status_code == 200
    assert cloud.call("alice", "DELETE", f"{path}/metadata/b").status_code == 404
    assert cloud.ok("alice", "GET", f"{path}/metadata") == {"metadata": {"a": "3"}}
    action = f"{path}/action"
    assert (
        cloud.call(
            "alice", "POST", action, json={"os-set_bootable": {"bootable": "true"}}
        ).status_code
        == 200
    )
    assert cloud.show("alice", volume_id)["bootable"] == "true"
    assert (
        cloud.call(
            "alice", "POST", action, json={"os-update_readonly_flag": {"readonly": True}}
        ).status_code
        == 202
    )
    assert cloud.call("alice", "POST", action, json={"os-frobnicate": {}}).status_code == 400


def test_extend_grows_it_and_reset_status_is_an_admins(cloud: Cloud) -> None:
    volume_id = cloud.available("alice")
    action = f"/volume/v3/{{p}}/volumes/{volume_id}/action"
    smaller = cloud.call("alice", "POST", action, json={"os-extend": {"new_size": 1}})
    assert smaller.status_code == 400
    assert (
        cloud.call("alice", "POST", action, json={"os-extend": {"new_size": 2}}).status_code == 202
    )
    assert cloud.show("alice", volume_id)["status"] == "extending"
    volume_host.finish_extend(cloud.services.app, UUID(volume_id), HOST)
    wait_for(lambda: cloud.show("alice", volume_id)["size"] == 2)
    reset = {"os-reset_status": {"status": "error"}}
    assert cloud.call("alice", "POST", action, json=reset).status_code == 403
    admin_path = f"/volume/v3/{cloud.projects['admin']}/volumes/{volume_id}/action"
    assert cloud.call("admin", "POST", admin_path, json=reset).status_code == 202
    assert cloud.show("alice", volume_id)["status"] == "error"


def test_delete_is_202_and_refused_while_it_has_snapshots(cloud: Cloud) -> None:
    volume_id = cloud.available("alice")
    snap = cloud.ok(
        "alice", "POST", "/volume/v3/{p}/snapshots", json={"snapshot": {"volume_id": volume_id}}
    )["snapshot"]
    assert set(snap) == SNAPSHOT_KEYS
    assert snap["status"] == "creating"
    refused = cloud.call("alice", "DELETE", f"/volume/v3/{{p}}/volumes/{volume_id}")
    assert refused.status_code == 400
    volume_host.finish_snapshot(cloud.services.app, UUID(snap["id"]), HOST)
    detail = cloud.ok("alice", "GET", "/volume/v3/{p}/snapshots/detail")["snapshots"]
    assert all(set(s) == SNAPSHOT_DETAIL_KEYS for s in detail)
    assert (
        cloud.call("alice", "DELETE", f"/volume/v3/{{p}}/snapshots/{snap['id']}").status_code == 202
    )
    volume_host.finish_snapshot_delete(cloud.services.app, UUID(snap["id"]), HOST)
    wait_for(
        lambda: (
            cloud.call("alice", "GET", f"/volume/v3/{{p}}/snapshots/{snap['id']}").status_code
            == 404
        )
    )
    assert cloud.call("alice", "DELETE", f"/volume/v3/{{p}}/volumes/{volume_id}").status_code == 202
    assert cloud.show("alice", volume_id)["status"] == "deleting"
    volume_host.finish_delete(cloud.services.app, UUID(volume_id), HOST)
    wait_for(
        lambda: (
            cloud.call("alice", "GET", f"/volume/v3/{{p}}/volumes/{volume_id}").status_code == 404
        )
    )


def test_a_snapshot_without_a_volume_id_is_404(cloud: Cloud) -> None:
    for body in ({"snapshot": {}}, {"snapshot": {"volume_id": str(uuid4())}}):
        response = cloud.call("alice", "POST", "/volume/v3/{p}/snapshots", json=body)
        assert response.status_code == 404, response.text


def test_quota_is_413_over_limit_and_limits_show_usage(cloud: Cloud) -> None:
    project = cloud.projects["bob"]
    admin_quota = f"/volume/v3/{cloud.projects['admin']}/os-quota-sets/{project}"
    used = cloud.ok("bob", "GET", "/volume/v3/{p}/limits")["limits"]["absolute"]
    assert set(used) == LIMIT_KEYS
    cloud.ok(
        "admin", "PUT", admin_quota, json={"quota_set": {"volumes": used["totalVolumesUsed"] + 1}}
    )
    cloud.create("bob")
    over = cloud.call("bob", "POST", "/volume/v3/{p}/volumes", json={"volume": {"size": 1}})
    assert over.status_code == 413, over.text
    assert "overLimit" in over.json()
    shown = cloud.ok("bob", "GET", f"/volume/v3/{{p}}/os-quota-sets/{project}?usage=true")[
        "quota_set"
    ]
    assert shown["volumes"]["in_use"] == shown["volumes"]["limit"]
    assert "volumes___DEFAULT__" in shown
    assert (
        cloud.call(
            "bob",
            "PUT",
            f"/volume/v3/{{p}}/os-quota-sets/{project}",
            json={"quota_set": {"volumes": 99}},
        ).status_code
        == 403
    )
    assert (
        cloud.call(
            "bob", "GET", f"/volume/v3/{{p}}/os-quota-sets/{cloud.projects['alice']}"
        ).status_code
        == 403
    )
    compute_quota = cloud.ok("bob", "GET", f"{COMPUTE}/os-quota-sets/{project}")["quota_set"]
    assert "volumes" not in compute_quota
    cloud.ok("admin", "PUT", admin_quota, json={"quota_set": {"volumes": 10}})


def test_types_list_show_and_an_admins_create(cloud: Cloud) -> None:
    types = cloud.ok("alice", "GET", "/volume/v3/{p}/types")["volume_types"]
    assert types[0]["name"] == "__DEFAULT__"
    body = {"volume_type": {"name": "shared", "extra_specs": {"multiattach": "<is> True"}}}
    assert cloud.call("alice", "POST", "/volume/v3/{p}/types", json=body).status_code == 403
    created = cloud.ok("admin", "POST", "/volume/v3/{p}/types", json=body)["volume_type"]
    assert cloud.call("admin", "POST", "/volume/v3/{p}/types", json=body).status_code == 409
    shown = cloud.ok("alice", "GET", f"/volume/v3/{{p}}/types/{created['id']}")["volume_type"]
    assert shown["extra_specs"] == {"multiattach": "<is> True"}
    volume = cloud.create("alice", volume_type="shared")
    assert volume["multiattach"] is True


def test_services_zones_and_extensions(cloud: Cloud) -> None:
    assert cloud.call("alice", "GET", "/volume/v3/{p}/os-services").status_code == 403
    assert cloud.ok("admin", "GET", "/volume/v3/{p}/os-services") == {"services": []}
    zones = cloud.ok("alice", "GET", "/volume/v3/{p}/os-availability-zone")["availabilityZoneInfo"]
    assert [z["zoneName"] for z in zones] == ["nova"]
    extensions = cloud.ok("alice", "GET", "/volume/v3/{p}/extensions")["extensions"]
    assert all(
        set(e) == {"alias", "name", "description", "updated", "links", "namespace"}
        for e in extensions
    )


# --- Nova's side ------------------------------------------------------------------------


def _attachments(cloud: Cloud, user: str, server_id: str) -> list[dict[str, Any]]:
    path = f"{COMPUTE}/servers/{server_id}/os-volume_attachments"
    found: list[dict[str, Any]] = cloud.ok(user, "GET", path)["volumeAttachments"]
    return found


def test_attach_hands_out_vdc_and_the_server_shows_it(cloud: Cloud) -> None:
    server_id = cloud.server("alice")
    volume_id = cloud.available("alice")
    path = f"{COMPUTE}/servers/{server_id}/os-volume_attachments"
    attached = cloud.ok("alice", "POST", path, json={"volumeAttachment": {"volumeId": volume_id}})
    assert attached["volumeAttachment"] == {
        "id": volume_id,
        "serverId": server_id,
        "volumeId": volume_id,
        "device": "/dev/vdc",
    }
    assert cloud.show("alice", volume_id)["status"] == "attaching"
    assert _attachments(cloud, "alice", server_id) == [attached["volumeAttachment"]]
    server = cloud.ok("alice", "GET", f"{COMPUTE}/servers/{server_id}")["server"]
    assert server["os-extended-volumes:volumes_attached"] == [{"id": volume_id}]
    # The hosts' part: ACL, then the disk plugged in.
    app = cloud.services.app
    volume = volume_host.load_volume(app, volume_id)
    (attachment_id,) = volume.attachments
    volume_host.grant_access(app, UUID(volume_id), attachment_id, HOST)
    volume_host.finish_attach(app, UUID(volume_id), attachment_id, datetime.now(UTC), HOST)
    wait_for(lambda: cloud.show("alice", volume_id)["status"] == "in-use")
    (shown,) = cloud.show("alice", volume_id)["attachments"]
    assert set(shown) == ATTACHMENT_KEYS
    assert (shown["server_id"], shown["device"], shown["host_name"]) == (
        server_id,
        "/dev/vdc",
        None,
    )
    second = cloud.available("alice")
    again = cloud.ok("alice", "POST", path, json={"volumeAttachment": {"volumeId": second}})
    assert again["volumeAttachment"]["device"] == "/dev/vdd"


def test_attaching_an_in_use_or_errored_volume_is_409_and_appends_nothing(cloud: Cloud) -> None:
    one, two = cloud.server("alice"), cloud.server("alice")
    volume_id = cloud.available("alice")
    body = {"volumeAttachment": {"volumeId": volume_id}}
    cloud.ok("alice", "POST", f"{COMPUTE}/servers/{one}/os-volume_attachments", json=body)
    before = cloud.services.app.recorder.max_notification_id()
    refused = cloud.call(
        "alice", "POST", f"{COMPUTE}/servers/{two}/os-volume_attachments", json=body
    )
    assert refused.status_code == 409, refused.text
    assert "conflictingRequest" in refused.json()
    broken = cloud.create("alice")["id"]
    volume_host.fail_volume(cloud.services.app, UUID(broken), "no room", HOST)
    wait_for(lambda: cloud.show("alice", broken)["status"] == "error")
    before = cloud.services.app.recorder.max_notification_id()
    errored = {"volumeAttachment": {"volumeId": broken}}
    refused = cloud.call(
        "alice", "POST", f"{COMPUTE}/servers/{two}/os-volume_attachments", json=errored
    )
    assert refused.status_code == 409
    assert cloud.services.app.recorder.max_notification_id() == before
    assert _attachments(cloud, "alice", two) == []


def test_another_projects_volume_cannot_be_attached(cloud: Cloud) -> None:
    server_id = cloud.server("alice")
    theirs = cloud.available("bob")
    for target in (theirs, str(uuid4())):
        body = {"volumeAttachment": {"volumeId": target}}
        response = cloud.call(
            "alice", "POST", f"{COMPUTE}/servers/{server_id}/os-volume_attachments", json=body
        )
        assert response.status_code == 404, response.text
    assert cloud.show("bob", theirs)["attachments"] == []


def test_a_hundred_concurrent_creates_take_exactly_the_gigabytes_quota(cloud: Cloud) -> None:
    """100 concurrent 1 GiB creates against gigabytes=10: exactly 10 accepted
    (202), the other 90 refused with Cinder's 413, usage exact."""
    services = cloud.services
    services.create_project(CreateProject("vol-race", ""), SYSTEM)
    services.create_user(CreateUser("racer", "pw", "vol-race", ("member",)), SYSTEM)
    USERS["racer"] = ("vol-race", ("member",))
    cloud.login("racer")
    project = cloud.projects["racer"]
    services.update_quota(project, {"gigabytes": 10}, SYSTEM)
    headers = {"X-Auth-Token": cloud.tokens["racer"]}
    path = f"/volume/v3/{project}/volumes"

    async def create_all() -> list[httpx.Response]:
        requests = [
            cloud.client.post(path, headers=headers, json={"volume": {"size": 1}})
            for _ in range(100)
        ]
        return list(await asyncio.gather(*requests))

    responses = cloud.loop.run(create_all())
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(202) == 10, statuses
    assert statuses.count(413) == 90, statuses
    assert all("overLimit" in r.json() for r in responses if r.status_code == 413)
    used = cloud.ok("racer", "GET", "/volume/v3/{p}/limits")["limits"]["absolute"]
    assert (used["totalGigabytesUsed"], used["totalVolumesUsed"]) == (10, 10)
    listed = cloud.ok("racer", "GET", "/volume/v3/{p}/volumes")["volumes"]
    assert len(listed) == 10


def test_upload_to_image_makes_a_queued_image_of_the_project(cloud: Cloud) -> None:
    volume_id = cloud.available("alice")
    action = f"/volume/v3/{{p}}/volumes/{volume_id}/action"
    body = {"os-volume_upload_image": {"image_name": "from-volume", "disk_format": "raw"}}
    response = cloud.call("alice", "POST", action, json=body)
    assert response.status_code == 202, response.text
    shown = response.json()["os-volume_upload_image"]
    assert (shown["status"], shown["image_name"], shown["disk_format"]) == (
        "uploading",
        "from-volume",
        "raw",
    )
    image = cloud.ok("alice", "GET", f"/image/v2/images/{shown['image_id']}")
    assert (image["status"], image["owner"], image["visibility"]) == (
        "queued",
        cloud.projects["alice"],
        "private",
    )
    public = {"os-volume_upload_image": {"image_name": "x", "visibility": "public"}}
    other = cloud.available("alice")
    refused = cloud.call("alice", "POST", f"/volume/v3/{{p}}/volumes/{other}/action", json=public)
    assert refused.status_code == 403
    assert cloud.show("alice", other)["status"] == "available"


def test_the_read_only_flag_shows_in_the_metadata_once_set(cloud: Cloud) -> None:
    volume_id = cloud.available("alice")
    assert "readonly" not in cloud.show("alice", volume_id)["metadata"]
    action = f"/volume/v3/{{p}}/volumes/{volume_id}/action"
    for flag, shown in ((True, "True"), (False, "False")):
        body = {"os-update_readonly_flag": {"readonly": flag}}
        assert cloud.call("alice", "POST", action, json=body).status_code == 202
        assert cloud.show("alice", volume_id)["metadata"]["readonly"] == shown
