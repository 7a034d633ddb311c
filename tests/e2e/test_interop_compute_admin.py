"""More compute answers as Nova gives them, found by tempest's wider API
suites (docs/interop.md): flavor ids, quota reset, the image proxy's filters."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from e2e.helpers import COMPUTE, Session

pytestmark = pytest.mark.e2e
V2_1 = {"OpenStack-API-Version": "compute 2.1"}


def _flavor(admin: Session, flavor_id: Any) -> dict[str, Any]:
    body = {"flavor": {"name": f"f-{uuid.uuid4().hex[:8]}", "ram": "256", "vcpus": 1, "disk": 1}}
    if flavor_id is not None:
        body["flavor"]["id"] = flavor_id
    created = admin.client.post(f"{COMPUTE}/flavors", json=body)
    assert created.status_code == 200, created.text
    flavor: dict[str, Any] = created.json()["flavor"]
    admin.client.delete(f"{COMPUTE}/flavors/{flavor['id']}")
    return flavor


def test_a_flavor_id_may_be_a_number_or_none_which_makes_a_uuid(admin: Session) -> None:
    number = 900000 + uuid.uuid4().int % 99999
    assert _flavor(admin, number)["id"] == str(number)
    assert uuid.UUID(_flavor(admin, None)["id"])
    assert _flavor(admin, None)["ram"] == 256  # given as a string, as Nova takes it
    spaced = {"flavor": {"name": "f", "ram": 256, "vcpus": 1, "disk": 1, "id": " x"}}
    assert admin.client.post(f"{COMPUTE}/flavors", json=spaced).status_code == 400


def test_deleting_a_quota_set_gives_the_project_the_defaults_again(
    admin: Session, member_session: Session
) -> None:
    path = f"{COMPUTE}/os-quota-sets/{member_session.project_id}"
    assert admin.client.put(path, json={"quota_set": {"instances": 3}}).status_code == 200
    assert admin.client.delete(path).status_code == 202
    assert admin.client.get(path).json()["quota_set"]["instances"] == 10
    assert member_session.client.delete(path).status_code == 403


def test_the_image_proxy_filters_as_nova_s_and_has_no_image_with_an_empty_id(
    member_session: Session, image_id: str
) -> None:
    client = member_session.client

    def listed(**params: str) -> list[str]:
        answer = client.get(f"{COMPUTE}/images/detail", params=params, headers=V2_1)
        assert answer.status_code == 200, answer.text
        return [i["id"] for i in answer.json()["images"]]

    assert image_id in listed(status="ACTIVE", name="tiny-qcow2")
    assert image_id not in listed(status="SAVING")
    assert image_id not in listed(type="snapshot")
    assert listed(server=str(uuid.uuid4())) == []
    for method in ("GET", "DELETE"):
        empty = client.request(method, f"{COMPUTE}/images/", headers=V2_1)
        assert empty.status_code == 404, (method, empty.text)
