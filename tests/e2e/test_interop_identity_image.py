"""Identity and image answers as Keystone and Glance give them, where the
interop guideline's tempest tests found them different (docs/interop.md)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from e2e.helpers import Session, Stack

pytestmark = pytest.mark.e2e

DRAFT4_PATCH = {"Content-Type": "application/openstack-images-v2.0-json-patch"}


def test_the_auth_catalog_is_the_project_scoped_token_s_own(
    stack: Stack, member_session: Session
) -> None:
    answer = member_session.client.get("/identity/v3/auth/catalog")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {s["type"] for s in body["catalog"]} >= {"identity", "compute", "image"}
    assert body["links"]["self"].endswith("/identity/v3/auth/catalog")
    anonymous = httpx.get(f"{stack.url}/identity/v3/auth/catalog", timeout=10)
    assert anonymous.status_code == 401


def test_a_token_without_a_project_has_no_catalog_to_show(stack: Stack) -> None:
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "admin",
                        "domain": {"name": "Default"},
                        "password": stack.admin_password,
                    }
                },
            },
            "scope": "unscoped",  # Keystone's: not even the default project
        }
    }
    issued = httpx.post(f"{stack.url}/identity/v3/auth/tokens", json=auth, timeout=10)
    assert issued.status_code == 201, issued.text
    token = {"X-Auth-Token": issued.headers["X-Subject-Token"]}
    answer = httpx.get(f"{stack.url}/identity/v3/auth/catalog", headers=token, timeout=10)
    assert answer.status_code == 403


def _new_image(session: Session) -> str:
    body = {"name": f"i-{uuid.uuid4().hex[:6]}", "disk_format": "raw", "container_format": "bare"}
    created = session.client.post("/image/v2/images", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_an_image_takes_glance_s_older_draft4_patch(member_session: Session) -> None:
    client, image_id = member_session.client, _new_image(member_session)
    patch = [{"replace": "/name", "value": "renamed"}, {"add": "/colour", "value": "blue"}]
    answer = client.patch(f"/image/v2/images/{image_id}", json=patch, headers=DRAFT4_PATCH)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["name"], answer.json()["colour"]) == ("renamed", "blue")
    two_ops = [{"replace": "/name", "remove": "/colour", "value": "x"}]
    refused = client.patch(f"/image/v2/images/{image_id}", json=two_ops, headers=DRAFT4_PATCH)
    assert refused.status_code == 400
    assert client.get(f"/image/v2/images/{image_id}").json()["name"] == "renamed"
    client.delete(f"/image/v2/images/{image_id}")


def test_an_empty_image_id_names_no_image(member_session: Session) -> None:
    listed = member_session.client.get("/image/v2/images/", follow_redirects=True)
    assert listed.status_code == 404
    deleted = member_session.client.delete("/image/v2/images/", follow_redirects=True)
    assert deleted.status_code == 404


def test_glance_s_schemas_are_served(member_session: Session) -> None:
    for name in ("image", "images", "member", "members"):
        answer = member_session.client.get(f"/image/v2/schemas/{name}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["name"] == name
    image = member_session.client.get("/image/v2/schemas/image").json()
    assert "qcow2" in image["properties"]["disk_format"]["enum"]


def test_images_filter_by_exact_size(member_session: Session) -> None:
    client, image_id = member_session.client, _new_image(member_session)
    upload = client.put(
        f"/image/v2/images/{image_id}/file",
        content=b"\0" * 1234,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 204, upload.text
    assert image_id in {
        i["id"] for i in client.get("/image/v2/images", params={"size": 1234}).json()["images"]
    }
    assert image_id not in {
        i["id"] for i in client.get("/image/v2/images", params={"size": 1235}).json()["images"]
    }
    client.delete(f"/image/v2/images/{image_id}")
