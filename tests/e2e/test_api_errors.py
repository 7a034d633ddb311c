"""Bad requests get the right 4xx in OpenStack's JSON shape, never a 500, and
never append to the ledger."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from e2e.helpers import (
    COMPUTE,
    MICROVERSION,
    Session,
    Stack,
    auth_body,
    boot_body,
    create_member,
    last_notification_id,
    login,
    wait_for_status,
    wait_until_gone,
)

pytestmark = pytest.mark.e2e

INT32_MAX = 2**31 - 1
RANDOM_UUID = str(uuid.uuid4())
IDENTITY_TOKENS = "/identity/v3/auth/tokens"


@pytest.fixture(scope="module")
def owner(stack: Stack) -> Iterator[Session]:
    member = create_member(stack, "owner")
    session = login(stack, member.user, member.password, member.project)
    yield session
    session.client.close()


@pytest.fixture(scope="module")
def outsider(stack: Stack) -> Iterator[Session]:
    member = create_member(stack, "outsider")
    session = login(stack, member.user, member.password, member.project)
    yield session
    session.client.close()


@pytest.fixture(scope="module")
def victim(owner: Session, image_id: str) -> Iterator[str]:
    """An ACTIVE server of the owner's project."""
    response = owner.client.post(f"{COMPUTE}/servers", json=boot_body("victim", image_id))
    assert response.status_code == 202, response.text
    server_id = str(response.json()["server"]["id"])
    try:
        assert wait_for_status(owner.client, server_id, {"ACTIVE", "ERROR"})["status"] == "ACTIVE"
        yield server_id
    finally:
        owner.client.delete(f"{COMPUTE}/servers/{server_id}")
        wait_until_gone(owner.client, server_id)


@dataclass(frozen=True)
class Case:
    """One bad request: who sends it, what, and the error it must get."""

    who: str  # anonymous, garbage, admin, owner, outsider
    method: str
    path: str
    status: int
    key: str | None  # compute-style error key; None: identity's {"error": ...}
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def server(**fields: Any) -> dict[str, Any]:
    body = {"name": "bad", "imageRef": "{image}", "flavorRef": "1", "networks": "none"}
    body.update(fields)
    return {"server": {k: v for k, v in body.items() if v is not None}}


def flavor(**fields: Any) -> dict[str, Any]:
    body = {"name": f"bad-{uuid.uuid4().hex[:6]}", "ram": 512, "vcpus": 1, "disk": 1}
    body.update(fields)
    return {"flavor": body}


SERVERS = f"{COMPUTE}/servers"
BAD = "badRequest"
CASES: dict[str, Case] = {
    # -- malformed bodies and wrong shapes --------------------------------
    "boot-malformed-json": Case("owner", "POST", SERVERS, 400, BAD, content=b'{"server": {'),
    "boot-not-utf8": Case("owner", "POST", SERVERS, 400, BAD, content=b"\xff\xfe{}"),
    "boot-body-is-a-list": Case("owner", "POST", SERVERS, 400, BAD, json=[server()]),
    "boot-empty-object": Case("owner", "POST", SERVERS, 400, BAD, json={}),
    "boot-server-is-a-string": Case("owner", "POST", SERVERS, 400, BAD, json={"server": "x"}),
    "boot-missing-flavor": Case("owner", "POST", SERVERS, 400, BAD, json=server(flavorRef=None)),
    "boot-missing-image": Case("owner", "POST", SERVERS, 400, BAD, json=server(imageRef=None)),
    "boot-missing-name": Case("owner", "POST", SERVERS, 400, BAD, json=server(name=None)),
    "boot-name-is-a-number": Case("owner", "POST", SERVERS, 400, BAD, json=server(name=42)),
    "boot-name-empty": Case("owner", "POST", SERVERS, 400, BAD, json=server(name="")),
    "boot-name-blank": Case("owner", "POST", SERVERS, 400, BAD, json=server(name="   ")),
    "boot-name-too-long": Case("owner", "POST", SERVERS, 400, BAD, json=server(name="x" * 256)),
    "boot-name-with-nul": Case("owner", "POST", SERVERS, 400, BAD, json=server(name="a\x00b")),
    "boot-flavor-is-a-list": Case("owner", "POST", SERVERS, 400, BAD, json=server(flavorRef=["1"])),
    "boot-bad-networks": Case("owner", "POST", SERVERS, 400, BAD, json=server(networks="bogus")),
    "boot-network-list": Case(
        "owner", "POST", SERVERS, 400, BAD, json=server(networks=[{"uuid": RANDOM_UUID}])
    ),
    "boot-metadata-over-quota": Case(
        "owner",
        "POST",
        SERVERS,
        403,
        "forbidden",
        json=server(metadata={f"k{i}": "v" for i in range(129)}),
    ),
    "boot-metadata-key-too-long": Case(
        "owner", "POST", SERVERS, 400, BAD, json=server(metadata={"k" * 256: "v"})
    ),
    "boot-metadata-value-too-long": Case(
        "owner", "POST", SERVERS, 400, BAD, json=server(metadata={"k": "v" * 256})
    ),
    "boot-metadata-value-not-a-string": Case(
        "owner", "POST", SERVERS, 400, BAD, json=server(metadata={"k": 1})
    ),
    "boot-description-too-long": Case(
        "owner", "POST", SERVERS, 400, BAD, json=server(description="d" * 256)
    ),
    "boot-unknown-flavor": Case(
        "owner", "POST", SERVERS, 400, BAD, json=server(flavorRef="no-such-flavor")
    ),
    "boot-unknown-image": Case(
        "owner", "POST", SERVERS, 400, BAD, json=server(imageRef=RANDOM_UUID)
    ),
    "boot-image-not-a-uuid": Case("owner", "POST", SERVERS, 400, BAD, json=server(imageRef="nope")),
    "action-malformed-json": Case(
        "owner", "POST", SERVERS + "/{victim}/action", 400, BAD, content=b"{"
    ),
    "action-empty": Case("owner", "POST", SERVERS + "/{victim}/action", 400, BAD, json={}),
    "action-unknown": Case(
        "owner", "POST", SERVERS + "/{victim}/action", 400, BAD, json={"evacuate": {}}
    ),
    "action-reboot-of-an-unknown-type": Case(
        "owner", "POST", SERVERS + "/{victim}/action", 400, BAD, json={"reboot": {"type": "WARM"}}
    ),
    "action-two-at-once": Case(
        "owner",
        "POST",
        SERVERS + "/{victim}/action",
        400,
        BAD,
        json={"os-stop": None, "os-start": None},
    ),
    "list-limit-not-a-number": Case("owner", "GET", SERVERS + "?limit=abc", 400, BAD),
    "list-limit-negative": Case("owner", "GET", SERVERS + "?limit=-1", 400, BAD),
    "list-marker-unknown": Case("owner", "GET", f"{SERVERS}?marker={RANDOM_UUID}", 400, BAD),
    "list-marker-not-a-uuid": Case("owner", "GET", SERVERS + "?marker=nope", 400, BAD),
    # -- bad ids in paths, unknown things, unknown routes ------------------
    "show-not-a-uuid": Case("owner", "GET", SERVERS + "/not-a-uuid", 404, "itemNotFound"),
    "show-unknown": Case("owner", "GET", f"{SERVERS}/{RANDOM_UUID}", 404, "itemNotFound"),
    "delete-not-a-uuid": Case("owner", "DELETE", SERVERS + "/not-a-uuid", 404, "itemNotFound"),
    "delete-unknown": Case("owner", "DELETE", f"{SERVERS}/{RANDOM_UUID}", 404, "itemNotFound"),
    "stop-not-a-uuid": Case(
        "owner", "POST", SERVERS + "/nope/action", 404, "itemNotFound", json={"os-stop": None}
    ),
    "start-while-active": Case(
        "owner",
        "POST",
        SERVERS + "/{victim}/action",
        409,
        "conflictingRequest",
        json={"os-start": None},
    ),
    "flavor-unknown": Case("owner", "GET", f"{COMPUTE}/flavors/no-such", 404, "itemNotFound"),
    "quota-unknown-project": Case(
        "admin", "GET", f"{COMPUTE}/os-quota-sets/{RANDOM_UUID}/detail", 404, "itemNotFound"
    ),
    "quota-update-unknown-project": Case(
        "admin",
        "PUT",
        f"{COMPUTE}/os-quota-sets/{uuid.uuid4().hex}",
        404,
        "itemNotFound",
        json={"quota_set": {"instances": 3}},
    ),
    "image-not-a-uuid": Case("owner", "GET", "/image/v2/images/nope", 404, "itemNotFound"),
    "image-unknown": Case("owner", "GET", f"/image/v2/images/{RANDOM_UUID}", 404, "itemNotFound"),
    "image-upload-unknown": Case(
        "owner", "PUT", f"/image/v2/images/{RANDOM_UUID}/file", 404, "itemNotFound", content=b"x"
    ),
    "unknown-compute-route": Case(
        "owner", "GET", f"{COMPUTE}/os-hypervisors-x", 404, "itemNotFound"
    ),
    "unknown-top-route": Case("owner", "GET", "/no/such/service", 404, "itemNotFound"),
    "method-not-allowed": Case(
        "owner", "PATCH", SERVERS, 405, "HTTPMethodNotAllowed", json={"server": {}}
    ),
    "malformed-microversion": Case(
        "owner",
        "GET",
        SERVERS,
        400,
        BAD,
        headers={"OpenStack-API-Version": "compute 2.x"},
    ),
    "unsupported-microversion": Case(
        "owner",
        "GET",
        SERVERS,
        406,
        "notAcceptable",
        headers={"OpenStack-API-Version": "compute 9.99"},
    ),
    # -- authentication ----------------------------------------------------
    "no-token": Case("anonymous", "GET", SERVERS, 401, "unauthorized"),
    "no-token-boot": Case("anonymous", "POST", SERVERS, 401, "unauthorized", json=server()),
    "no-token-action-bad-body": Case(
        "anonymous", "POST", SERVERS + "/{victim}/action", 401, "unauthorized", json={}
    ),
    "garbage-token": Case("garbage", "GET", SERVERS, 401, "unauthorized"),
    "garbage-token-image": Case("garbage", "GET", "/image/v2/images", 401, "unauthorized"),
    "identity-no-token": Case("anonymous", "GET", IDENTITY_TOKENS, 401, None),
    "identity-garbage-subject": Case(
        "owner", "GET", IDENTITY_TOKENS, 404, None, headers={"X-Subject-Token": "garbage"}
    ),
    "identity-malformed-json": Case("anonymous", "POST", IDENTITY_TOKENS, 400, None, content=b"{"),
    "identity-missing-password": Case(
        "anonymous",
        "POST",
        IDENTITY_TOKENS,
        400,
        None,
        json={"auth": {"identity": {"methods": ["password"], "password": {"user": {}}}}},
    ),
    "identity-wrong-password": Case(
        "anonymous", "POST", IDENTITY_TOKENS, 401, None, json=auth_body("admin", "wrong", "admin")
    ),
    "identity-unknown-project": Case(
        "anonymous", "POST", IDENTITY_TOKENS, 401, None, json=auth_body("admin", "x", "no-such")
    ),
    # -- policy ------------------------------------------------------------
    "member-creates-flavor": Case(
        "owner", "POST", f"{COMPUTE}/flavors", 403, "forbidden", json=flavor()
    ),
    "member-deletes-flavor": Case("owner", "DELETE", f"{COMPUTE}/flavors/1", 403, "forbidden"),
    "member-sets-own-quota": Case(
        "owner",
        "PUT",
        f"{COMPUTE}/os-quota-sets/{{own_project}}",
        403,
        "forbidden",
        json={"quota_set": {"instances": 100}},
    ),
    "member-reads-other-quota": Case(
        "owner", "GET", f"{COMPUTE}/os-quota-sets/{{admin_project}}/detail", 403, "forbidden"
    ),
    "member-lists-all-tenants": Case(
        "owner", "GET", SERVERS + "/detail?all_tenants=1", 403, "forbidden"
    ),
    "member-creates-public-image": Case(
        "owner", "POST", "/image/v2/images", 403, "forbidden", json={"visibility": "public"}
    ),
    "member-uploads-to-public-image": Case(
        "owner", "PUT", "/image/v2/images/{image}/file", 403, "forbidden", content=b"x"
    ),
    # -- another project's server -------------------------------------------
    "outsider-shows": Case("outsider", "GET", SERVERS + "/{victim}", 404, "itemNotFound"),
    "outsider-deletes": Case("outsider", "DELETE", SERVERS + "/{victim}", 404, "itemNotFound"),
    "outsider-stops": Case(
        "outsider",
        "POST",
        SERVERS + "/{victim}/action",
        404,
        "itemNotFound",
        json={"os-stop": None},
    ),
    # -- admin input that no read model could hold ---------------------------
    "flavor-ram-is-a-string": Case(
        "admin", "POST", f"{COMPUTE}/flavors", 400, BAD, json=flavor(ram="lots")
    ),
    "flavor-zero-vcpus": Case(
        "admin", "POST", f"{COMPUTE}/flavors", 400, BAD, json=flavor(vcpus=0)
    ),
    "flavor-vcpus-over-int32": Case(
        "admin", "POST", f"{COMPUTE}/flavors", 400, BAD, json=flavor(vcpus=INT32_MAX + 1)
    ),
    "flavor-ram-over-int32": Case(
        "admin", "POST", f"{COMPUTE}/flavors", 400, BAD, json=flavor(ram=INT32_MAX + 1)
    ),
    "flavor-name-with-nul": Case(
        "admin", "POST", f"{COMPUTE}/flavors", 400, BAD, json=flavor(name="a\x00b")
    ),
    "flavor-duplicate-id": Case(
        "admin", "POST", f"{COMPUTE}/flavors", 409, "conflictingRequest", json=flavor(id="1")
    ),
    "quota-not-a-number": Case(
        "admin",
        "PUT",
        f"{COMPUTE}/os-quota-sets/{{own_project}}",
        400,
        BAD,
        json={"quota_set": {"instances": "many"}},
    ),
    "quota-below-minus-one": Case(
        "admin",
        "PUT",
        f"{COMPUTE}/os-quota-sets/{{own_project}}",
        400,
        BAD,
        json={"quota_set": {"instances": -2}},
    ),
    "quota-unknown-resource": Case(
        "admin",
        "PUT",
        f"{COMPUTE}/os-quota-sets/{{own_project}}",
        400,
        BAD,
        json={"quota_set": {"floating_ips": 1}},
    ),
    "quota-over-int32": Case(
        "admin",
        "PUT",
        f"{COMPUTE}/os-quota-sets/{{own_project}}",
        400,
        BAD,
        json={"quota_set": {"instances": 10**20}},
    ),
    "image-min-disk-is-a-string": Case(
        "owner", "POST", "/image/v2/images", 400, BAD, json={"min_disk": "big"}
    ),
    "image-min-disk-over-int32": Case(
        "owner", "POST", "/image/v2/images", 400, BAD, json={"min_disk": INT32_MAX + 1}
    ),
    "image-bad-disk-format": Case(
        "owner", "POST", "/image/v2/images", 400, BAD, json={"disk_format": "exe"}
    ),
    "image-name-with-nul": Case(
        "owner", "POST", "/image/v2/images", 400, BAD, json={"name": "a\x00b"}
    ),
    "image-property-with-nul": Case(
        "owner", "POST", "/image/v2/images", 400, BAD, json={"name": "p", "note": "a\x00b"}
    ),
    "image-property-not-a-string": Case(
        "owner", "POST", "/image/v2/images", 400, BAD, json={"name": "p", "note": 5}
    ),
    "image-property-lone-surrogate": Case(
        "owner",
        "POST",
        "/image/v2/images",
        400,
        BAD,
        content=b'{"name": "p", "note": "a\\ud800b"}',
        headers={"Content-Type": "application/json"},
    ),
    "image-property-key-with-nul": Case(
        "owner", "POST", "/image/v2/images", 400, BAD, json={"name": "p", "k\x00": "v"}
    ),
    "image-list-limit-negative": Case("owner", "GET", "/image/v2/images?limit=-1", 400, BAD),
    # -- NUL bytes in what reads pass to the database -------------------------
    "image-list-name-with-nul": Case("owner", "GET", "/image/v2/images?name=a%00b", 400, BAD),
    "flavor-id-with-nul": Case("owner", "GET", f"{COMPUTE}/flavors/a%00b", 400, BAD),
    "quota-project-with-nul": Case(
        "admin", "GET", f"{COMPUTE}/os-quota-sets/a%00b/detail", 400, BAD
    ),
    "all-tenants-project-with-nul": Case(
        "admin", "GET", SERVERS + "/detail?all_tenants=1&project_id=a%00b", 400, BAD
    ),
}


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names) if "{" in value and "}" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


@pytest.mark.parametrize("name", list(CASES))
def test_bad_request_gets_an_openstack_error_and_appends_nothing(
    name: str,
    stack: Stack,
    admin: Session,
    owner: Session,
    outsider: Session,
    victim: str,
    image_id: str,
) -> None:
    case = CASES[name]
    names = {
        "victim": victim,
        "image": image_id,
        "own_project": owner.project_id,
        "admin_project": admin.project_id,
    }
    sessions = {"admin": admin, "owner": owner, "outsider": outsider}
    headers = dict(MICROVERSION)
    if case.who in sessions:
        headers["X-Auth-Token"] = sessions[case.who].client.headers["X-Auth-Token"]
    elif case.who == "garbage":
        headers["X-Auth-Token"] = "gAAAAABgarbage"
    if case.content is not None and not case.path.endswith("/file"):
        headers["Content-Type"] = "application/json"  # the body is the point, not its type
    headers.update(case.headers)
    body = case.json
    before = last_notification_id(stack)

    response = httpx.request(
        case.method,
        stack.url + _fill(case.path, names),
        headers=headers,
        json=_fill(body, names) if body is not None else None,
        content=case.content,
        timeout=30,
    )

    assert response.status_code == case.status, response.text
    error = response.json()
    if case.key is None:
        assert set(error) == {"error"}, error
        assert error["error"]["code"] == case.status
        assert error["error"]["message"]
        assert error["error"]["title"]
    else:
        assert set(error) == {case.key}, error
        assert error[case.key]["code"] == case.status
        assert isinstance(error[case.key]["message"], str)
        assert error[case.key]["message"]
    if case.status == 401:
        assert "WWW-Authenticate" in response.headers
    assert last_notification_id(stack) == before, "a rejected request appended events"


def test_other_projects_servers_are_not_listed(outsider: Session, victim: str) -> None:
    for path in ("/servers", "/servers/detail"):
        response = outsider.client.get(COMPUTE + path)
        assert response.status_code == 200, response.text
        assert victim not in {s["id"] for s in response.json()["servers"]}
