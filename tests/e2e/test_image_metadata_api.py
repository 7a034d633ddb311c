"""Image metadata over HTTP, as Glance answers it: bad patches, read-only
properties, the wrong media type and members of a non-shared image each get
their 4xx in a Glance-style body and append nothing; lists page with a
``next`` link; property protections follow the operator's file (the seed's
example, in the ``policies`` format)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile_images import qcow2

from e2e.helpers import Session, Stack, create_member, last_notification_id, login, running_stack
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

# The seed's property protections example (shared/seeds/002_0b26a32a0fe9175d.txt).
SEED_PROTECTIONS = Path(__file__).parents[1] / "data" / "property-protections.conf"

pytestmark = pytest.mark.e2e

IMAGES = "/image/v2/images"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def _create(session: Session, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"img-{uuid.uuid4().hex[:8]}")
    response = session.client.post(IMAGES, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _patch(session: Session, image_id: str, doc: Any, **headers: str) -> httpx.Response:
    content = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return session.client.patch(
        f"{IMAGES}/{image_id}", content=content, headers={**PATCH, **headers}
    )


BAD_PATCHES = [
    pytest.param(b"[{not json", 400, "JSON", id="not-json"),
    pytest.param({"op": "add"}, 400, "array", id="not-a-list"),
    pytest.param([{"op": "copy", "path": "/name", "from": "/x"}], 400, "op", id="bad-op"),
    pytest.param([{"op": "add", "path": "/name"}], 400, "value", id="no-value"),
    pytest.param([{"op": "add", "path": "name", "value": "x"}], 400, "pointer", id="bad-path"),
    pytest.param([{"op": "add", "path": "/min_ram", "value": "big"}], 400, "min_ram", id="type"),
    pytest.param([{"op": "replace", "path": "/id", "value": "x"}], 403, "read-only", id="id"),
    pytest.param(
        [{"op": "replace", "path": "/status", "value": "active"}], 403, "read-only", id="status"
    ),
    pytest.param(
        [{"op": "add", "path": "/checksum", "value": "0" * 32}], 403, "read-only", id="checksum"
    ),
    pytest.param(
        [{"op": "replace", "path": "/owner", "value": "someone"}], 403, "read-only", id="owner"
    ),
    pytest.param([{"op": "remove", "path": "/nope"}], 409, "does not exist", id="missing"),
    pytest.param(b"[" * 10_000 + b"]" * 10_000, 400, "nested", id="deep"),
    pytest.param(
        json.dumps([{"op": "add", "path": "/x", "value": "x" * (1 << 20)}]).encode(),
        413,
        "larger than",
        id="over-the-body-limit",
    ),
]


@pytest.mark.parametrize(("doc", "status", "words"), BAD_PATCHES)
def test_a_bad_patch_gets_its_4xx_and_appends_nothing(
    stack: Stack, member_session: Session, doc: Any, status: int, words: str
) -> None:
    image = _create(member_session, visibility="private")
    before = last_notification_id(stack)
    response = _patch(member_session, image["id"], doc)
    assert response.status_code == status, response.text
    (error,) = response.json().values()
    assert error["code"] == status and words in error["message"]
    assert last_notification_id(stack) == before
    assert member_session.client.get(f"{IMAGES}/{image['id']}").json() == image


def test_a_patch_in_another_media_type_is_415_and_appends_nothing(
    stack: Stack, member_session: Session
) -> None:
    image = _create(member_session)
    before = last_notification_id(stack)
    doc = [{"op": "add", "path": "/os_distro", "value": "cirros"}]
    response = _patch(member_session, image["id"], doc, **{"Content-Type": "application/json"})
    assert response.status_code == 415, response.text
    assert response.json()["unsupportedMediaType"]["code"] == 415
    assert last_notification_id(stack) == before


def test_a_good_patch_answers_the_updated_image(member_session: Session) -> None:
    image = _create(member_session, os_distro="ubuntu", tags=["a"])
    doc = [
        {"op": "replace", "path": "/os_distro", "value": "cirros"},
        {"op": "add", "path": "/tags/-", "value": "b"},
        {"op": "add", "path": "/os_hidden", "value": True},
    ]
    response = _patch(member_session, image["id"], doc)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["os_distro"], body["tags"], body["os_hidden"]) == ("cirros", ["a", "b"], True)
    # Hidden images leave the default list (Glance's os_hidden).
    listed = member_session.client.get(IMAGES).json()["images"]
    assert image["id"] not in {i["id"] for i in listed}


@pytest.mark.parametrize("visibility", ["public", "private", "community"])
def test_a_member_added_to_a_non_shared_image_is_403_and_appends_nothing(
    stack: Stack, admin: Session, visibility: str
) -> None:
    image = _create(admin, visibility=visibility)
    other = login(stack, *_credentials(create_member(stack, "img-m")))
    before = last_notification_id(stack)
    response = admin.client.post(
        f"{IMAGES}/{image['id']}/members", json={"member": other.project_id}
    )
    assert response.status_code == 403, response.text
    assert "Only shared images have members" in response.json()["forbidden"]["message"]
    assert last_notification_id(stack) == before
    listed = admin.client.get(f"{IMAGES}/{image['id']}/members")
    assert listed.status_code == 403, listed.text  # Glance: every member route


def _credentials(member: Any) -> tuple[str, str, str]:
    return member.user, member.password, member.project


def test_a_member_of_a_nonexistent_project_is_refused(admin: Session) -> None:
    image = _create(admin, visibility="shared")
    response = admin.client.post(
        f"{IMAGES}/{image['id']}/members", json={"member": uuid.uuid4().hex}
    )
    assert response.status_code == 400, response.text


def test_kernel_and_ramdisk_ids_must_name_aki_and_ari_images(member_session: Session) -> None:
    kernel = _create(member_session, disk_format="aki", container_format="aki")
    plain = _create(member_session)
    for value, status in ((plain["id"], 400), (str(uuid.uuid4()), 400), (kernel["id"], 201)):
        response = member_session.client.post(IMAGES, json={"name": "k", "kernel_id": value})
        assert response.status_code == status, response.text
    doc = [{"op": "add", "path": "/ramdisk_id", "value": kernel["id"]}]
    assert _patch(member_session, plain["id"], doc).status_code == 400


def test_lists_page_with_marker_and_next_and_filter_on_times(member_session: Session) -> None:
    mark = uuid.uuid4().hex[:8]
    ids = [_create(member_session, name=f"page-{mark}-{n}", batch=mark)["id"] for n in range(3)]
    params = {"batch": mark, "sort": "name:asc", "limit": "2"}
    first = member_session.client.get(IMAGES, params=params).json()
    assert [i["id"] for i in first["images"]] == ids[:2]
    second = member_session.client.get("/image" + first["next"]).json()
    assert [i["id"] for i in second["images"]] == ids[2:]
    assert "next" not in second
    since = first["images"][0]["created_at"]
    later = member_session.client.get(
        IMAGES, params={"batch": mark, "created_at": f"gte:{since}"}
    ).json()
    assert {i["id"] for i in later["images"]} == set(ids)
    bad = member_session.client.get(IMAGES, params={"created_at": "gte:yesterday"})
    assert bad.status_code == 400
    assert member_session.client.get(IMAGES, params={"sort_key": "bogus"}).status_code == 400


# --- property protections: the seed's example file ---------------------------------------


@pytest.fixture(scope="module")
def protected_stack(
    pg_cluster: PrivateCluster,
    redis_server: PrivateRedis,
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    rules = tmp_path_factory.mktemp("protections") / "property-protections.conf"
    rules.write_text(SEED_PROTECTIONS.read_text())
    rules.parent.chmod(0o755)
    settings = {
        "CLOUDLEDGER_PROPERTY_PROTECTION_FILE": str(rules),
        "CLOUDLEDGER_PROPERTY_PROTECTION_RULE_FORMAT": "policies",
    }
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/9"
    with running_stack(pg_cluster, template_database, redis_url, "db", settings, hosts=1) as stack:
        yield stack


def test_property_protections_follow_the_seed_file(protected_stack: Stack) -> None:
    stack = protected_stack
    admin = login(stack, "admin", stack.admin_password, "admin")
    member = login(stack, *_credentials(create_member(stack, "prot")))
    props = {"x_none_read": "r", "x_none_update": "u", "x_none_delete": "d"}
    # create: the admin may, a member may not (any of them)
    for key in props:
        refused = member.client.post(IMAGES, json={"name": "m", key: "v"})
        assert refused.status_code == 403, refused.text
    image = _create(admin, visibility="public", **props)
    # read: x_none_read is shown to no one; the others to the admin only
    assert "x_none_read" not in image
    assert (image["x_none_update"], image["x_none_delete"]) == ("u", "d")
    seen = member.client.get(f"{IMAGES}/{image['id']}").json()
    assert not set(props) & set(seen)

    # update
    def patch(who: Session, op: str, key: str) -> int:
        doc = [{"op": op, "path": f"/{key}", **({"value": "new"} if op != "remove" else {})}]
        return _patch(who, image["id"], doc).status_code

    assert patch(admin, "replace", "x_none_update") == 403
    assert patch(admin, "replace", "x_none_delete") == 200
    # delete
    assert patch(admin, "remove", "x_none_delete") == 403
    assert patch(admin, "remove", "x_none_update") == 200
    # A member's patch of an admin's image is refused before the protections.
    assert patch(member, "replace", "x_none_delete") in (403, 404)
    shown = admin.client.get(f"{IMAGES}/{image['id']}").json()
    assert shown["x_none_delete"] == "new" and "x_none_update" not in shown


def test_an_image_list_filter_tells_no_one_a_property_it_may_not_read(
    protected_stack: Stack,
) -> None:
    """The seed's protections: members read no x_none_* property, admins
    x_none_update. A filter on it was a way to read it, one guess a time."""
    admin = login(protected_stack, "admin", protected_stack.admin_password, "admin")
    member = create_member(protected_stack, "filter")
    tenant = login(protected_stack, member.user, member.password, member.project)
    secret = uuid.uuid4().hex
    made = admin.client.post(
        IMAGES,
        json={"name": f"p-{uuid.uuid4().hex[:8]}", "visibility": "public", "x_none_update": secret},
    )
    assert made.status_code == 201, made.text

    def found(who: Session, value: str) -> list[str]:
        listed = who.client.get(IMAGES, params={"x_none_update": value})
        assert listed.status_code == 200, listed.text
        return [i["id"] for i in listed.json()["images"]]

    assert found(admin, secret) == [made.json()["id"]]
    assert found(tenant, secret) == found(tenant, "wrong guess") == []
    assert made.json()["id"] in [i["id"] for i in tenant.client.get(IMAGES).json()["images"]]


def test_a_deactivated_image_is_downloaded_by_admins_only(
    stack: Stack, admin: Session, member_session: Session
) -> None:
    image = _create(admin, visibility="public")
    data = qcow2()  # what the image says it is (uploads are inspected)
    uploaded = admin.client.put(
        f"{IMAGES}/{image['id']}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 204, uploaded.text
    refused = member_session.client.post(f"{IMAGES}/{image['id']}/actions/deactivate")
    assert refused.status_code == 403, refused.text  # policy: admins
    done = admin.client.post(f"{IMAGES}/{image['id']}/actions/deactivate")
    assert done.status_code == 204, done.text
    denied = member_session.client.get(f"{IMAGES}/{image['id']}/file")
    assert denied.status_code == 403, denied.text
    assert admin.client.get(f"{IMAGES}/{image['id']}/file").content == data
    boot = member_session.client.post(
        "/compute/v2.1/servers",
        json={
            "server": {
                "name": "nope",
                "imageRef": image["id"],
                "flavorRef": "1",
                "networks": "none",
            }
        },
    )
    assert boot.status_code == 400 and "is not active" in boot.text, boot.text
    assert admin.client.post(f"{IMAGES}/{image['id']}/actions/reactivate").status_code == 204
    assert member_session.client.get(f"{IMAGES}/{image['id']}/file").content == data


@pytest.mark.parametrize("key", ["status", "id", "checksum", "owner", "os_glance_x"])
def test_creating_with_a_read_only_or_reserved_key_is_403_and_appends_nothing(
    stack: Stack, member_session: Session, key: str
) -> None:
    before = last_notification_id(stack)
    response = member_session.client.post(IMAGES, json={"name": "ro", key: "x"})
    assert response.status_code == 403, response.text
    assert last_notification_id(stack) == before


def test_lists_sort_by_several_keys_either_way(member_session: Session) -> None:
    mark = uuid.uuid4().hex[:8]
    b = _create(member_session, name=f"s-{mark}-b", batch=mark)["id"]
    a_old = _create(member_session, name=f"s-{mark}-a", batch=mark)["id"]
    a_new = _create(member_session, name=f"s-{mark}-a", batch=mark)["id"]
    client = member_session.client
    by_keys = client.get(
        IMAGES,
        params=[
            ("batch", mark),
            ("sort_key", "name"),
            ("sort_dir", "asc"),
            ("sort_key", "created_at"),
            ("sort_dir", "desc"),
        ],
    ).json()["images"]
    by_sort = client.get(IMAGES, params={"batch": mark, "sort": "name:asc,created_at:desc"}).json()[
        "images"
    ]
    # created_at may tie within a second: the id breaks ties, so compare names then sets
    assert [i["id"] for i in by_keys] == [i["id"] for i in by_sort]
    assert [i["name"] for i in by_keys] == [f"s-{mark}-a", f"s-{mark}-a", f"s-{mark}-b"]
    assert {by_keys[0]["id"], by_keys[1]["id"]} == {a_old, a_new} and by_keys[2]["id"] == b
    mixed = client.get(IMAGES, params={"sort": "name:asc", "sort_key": "name"})
    assert mixed.status_code == 400


def test_community_and_pending_shared_images_are_listed_only_when_asked(
    stack: Stack, member_session: Session
) -> None:
    owner = login(stack, *_credentials(create_member(stack, "img-c")))
    community = _create(owner, visibility="community")["id"]
    shared = _create(owner, visibility="shared")["id"]
    added = owner.client.post(
        f"{IMAGES}/{shared}/members", json={"member": member_session.project_id}
    )
    assert added.status_code == 200, added.text
    assert added.json()["status"] == "pending"

    def listed(**params: str) -> set[str]:
        response = member_session.client.get(IMAGES, params=params)
        assert response.status_code == 200, response.text
        return {i["id"] for i in response.json()["images"]}

    assert community not in listed() and shared not in listed()
    assert community in listed(visibility="community")
    assert shared in listed(member_status="pending")
    assert shared in listed(visibility="shared", member_status="all")
    # Visible by id while pending (Glance), and to the member only itself among the members.
    assert member_session.client.get(f"{IMAGES}/{shared}").status_code == 200
    members = member_session.client.get(f"{IMAGES}/{shared}/members").json()["members"]
    assert [m["member_id"] for m in members] == [member_session.project_id]
    accepted = member_session.client.put(
        f"{IMAGES}/{shared}/members/{member_session.project_id}", json={"status": "accepted"}
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert shared in listed()
    assert member_session.client.get(IMAGES, params={"member_status": "maybe"}).status_code == 400


def test_lists_filter_on_any_of_several_ids_and_names(member_session: Session) -> None:
    """What ``server list`` asks to name its servers' images (``id=in:...``)."""
    one, two, three = (_create(member_session) for _ in range(3))
    client = member_session.client
    by_id = client.get(IMAGES, params={"id": f"in:{one['id']},{two['id']}"}).json()["images"]
    assert {i["id"] for i in by_id} == {one["id"], two["id"]}
    by_name = client.get(IMAGES, params={"name": f"in:{one['name']},{three['name']}"}).json()
    assert {i["id"] for i in by_name["images"]} == {one["id"], three["id"]}
    assert client.get(IMAGES, params={"id": "in:not-a-uuid"}).status_code == 400
