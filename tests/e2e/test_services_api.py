"""os-services over HTTP: disable with a reason, force-down from 2.11, each an
event; bad requests get a clear 4xx and append nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from e2e.helpers import COMPUTE, HOSTS, Session, Stack, last_notification_id

pytestmark = pytest.mark.e2e

HOST = HOSTS[0]
V2_1 = {"OpenStack-API-Version": "compute 2.1"}
V2_11 = {"OpenStack-API-Version": "compute 2.11"}


def _put(admin: Session, action: str, body: Any, headers: dict[str, str] = V2_11) -> Any:
    return admin.client.put(f"{COMPUTE}/os-services/{action}", json=body, headers=headers)


def _listed(admin: Session, headers: dict[str, str] = V2_11) -> dict[str, dict[str, Any]]:
    response = admin.client.get(f"{COMPUTE}/os-services", headers=headers)
    assert response.status_code == 200, response.text
    return {s["host"]: s for s in response.json()["services"]}


@pytest.fixture
def restored(admin: Session) -> Iterator[Session]:
    """The host enabled and not forced down again afterwards, whatever happened."""
    yield admin
    body = {"host": HOST, "binary": "nova-compute"}
    assert _put(admin, "force-down", {**body, "forced_down": False}).status_code == 200
    assert _put(admin, "enable", body).status_code == 200


def test_disable_with_a_reason_shows_it_until_enabled(restored: Session) -> None:
    admin = restored
    body = {"host": HOST, "binary": "nova-compute", "disabled_reason": "new disks"}
    response = _put(admin, "disable-log-reason", body)
    assert response.status_code == 200, response.text
    assert response.json() == {"service": {**body, "status": "disabled"}}
    shown = _listed(admin)[HOST]
    assert (shown["status"], shown["disabled_reason"]) == ("disabled", "new disks")
    hypervisors = admin.client.get(f"{COMPUTE}/os-hypervisors/detail").json()["hypervisors"]
    mine = next(h for h in hypervisors if h["hypervisor_hostname"] == HOST)
    assert mine["service"]["disabled_reason"] == "new disks"

    assert _put(admin, "enable", {"host": HOST, "binary": "nova-compute"}).status_code == 200
    shown = _listed(admin)[HOST]
    assert (shown["status"], shown["disabled_reason"]) == ("enabled", None)


def test_a_forced_down_service_shows_down_and_forced_down_from_2_11(restored: Session) -> None:
    admin = restored
    body = {"host": HOST, "binary": "nova-compute", "forced_down": True}
    response = _put(admin, "force-down", body)
    assert response.status_code == 200, response.text
    assert response.json() == {"service": body}
    shown = _listed(admin)[HOST]
    assert (shown["state"], shown["forced_down"], shown["status"]) == ("down", True, "enabled")
    old = _listed(admin, V2_1)[HOST]
    assert old["state"] == "down" and "forced_down" not in old  # not a field before 2.11
    assert all("forced_down" not in s for s in _listed(admin, V2_1).values())
    hypervisors = admin.client.get(f"{COMPUTE}/os-hypervisors").json()["hypervisors"]
    assert next(h for h in hypervisors if h["hypervisor_hostname"] == HOST)["state"] == "down"

    assert _put(admin, "force-down", {**body, "forced_down": False}).status_code == 200
    shown = _listed(admin)[HOST]
    assert (shown["state"], shown["forced_down"]) == ("up", False)


def _on(host: str = HOST, binary: str = "nova-compute", **fields: Any) -> dict[str, Any]:
    return {"host": host, "binary": binary, **fields}


REASON = "disable-log-reason"


@pytest.mark.parametrize(
    ("action", "body", "headers", "status"),
    [
        (REASON, _on(), V2_11, 400),  # no reason
        (REASON, _on(disabled_reason=""), V2_11, 400),
        (REASON, _on(disabled_reason="x" * 256), V2_11, 400),
        (REASON, _on(disabled_reason="a\x00b"), V2_11, 400),
        (REASON, _on(disabled_reason="line\nbreak"), V2_11, 400),
        (REASON, _on(disabled_reason="  "), V2_11, 400),
        (REASON, _on(disabled_reason=7), V2_11, 400),
        (REASON, _on("nowhere", disabled_reason="r"), V2_11, 404),
        ("disable", _on("scheduler", "nova-scheduler"), V2_11, 400),
        ("disable", _on("nowhere"), V2_11, 404),
        ("enable", {"host": HOST}, V2_11, 400),
        ("force-down", _on(forced_down=True), V2_1, 404),  # no such action before 2.11
        ("force-down", _on(), V2_11, 400),
        ("force-down", _on(forced_down="maybe"), V2_11, 400),
        ("force-down", _on(binary="nova-scheduler", forced_down=True), V2_11, 400),
        ("force-down", _on("nowhere", forced_down=True), V2_11, 404),
        ("force-down", [HOST], V2_11, 400),
    ],
)
def test_a_bad_service_update_is_refused_and_appends_nothing(
    admin: Session, stack: Stack, action: str, body: Any, headers: dict[str, str], status: int
) -> None:
    before = last_notification_id(stack)
    response = _put(admin, action, body, headers)
    assert response.status_code == status, response.text
    (error,) = response.json().values()
    assert error["code"] == status and error["message"]
    assert last_notification_id(stack) == before
    shown = _listed(admin)[HOST]
    assert (shown["status"], shown["forced_down"]) == ("enabled", False)


def test_updating_the_scheduler_service_says_only_compute_services_can_be(admin: Session) -> None:
    response = _put(admin, "disable", {"host": "scheduler", "binary": "nova-scheduler"})
    assert response.status_code == 400
    assert "Only nova-compute services can be updated" in response.json()["badRequest"]["message"]
    assert _listed(admin)["scheduler"]["status"] == "enabled"
