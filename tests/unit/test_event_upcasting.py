"""Schema evolution: Instance.Requested version 4 holds its networks as a
list of NetworkRequest; events stored before (version 3, "none" or "auto"
as a string, and older) are upcast as they load, and replay to the state a
new event makes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from commands.app import CloudApp
from domain.instance import Instance
from domain.values import Actor, FlavorSnapshot, NetworkRequest

INSTANCE_ID = UUID("0b5c2b5e-7f4e-4d2b-9c7a-3e2f8f1d6a01")
TOPIC = "domain.instance:Instance.Requested"
# Byte for byte as the ledger stored an Instance.Requested of version 3
# (captured from the code before version 4; never regenerate it).
STORED_V3 = (Path(__file__).parent.parent / "data" / "instance_requested_v3.json").read_bytes()
USER = Actor("user-1", "project-1", ("member",), "req-boot")
AUTO = NetworkRequest(auto_allocate=True)


def _app() -> CloudApp:
    return CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _stored(state: bytes, version: int = 1) -> StoredEvent:
    return StoredEvent(INSTANCE_ID, version, TOPIC, state)


def _older(**changes: Any) -> bytes:
    """The version 3 bytes with fields changed (None: removed)."""
    state = json.loads(STORED_V3)
    for name, value in changes.items():
        if value is None:
            state.pop(name)
        else:
            state[name] = value
    return json.dumps(state, separators=(",", ":")).encode()


def test_the_topic_of_the_stored_event_still_resolves() -> None:
    assert get_topic(Instance.Requested) == TOPIC


def test_a_version_3_event_as_stored_loads_with_structured_networks() -> None:
    event = _app().mapper.to_domain_event(_stored(STORED_V3))

    assert isinstance(event, Instance.Requested)
    assert event.networks == [AUTO]
    assert (event.name, event.image_id, event.actor) == ("web", "img-1", USER)
    assert event.flavor == FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0)


def test_none_becomes_no_network_request() -> None:
    event = _app().mapper.to_domain_event(_stored(_older(networks="none")))
    assert event.networks == []  # type: ignore[attr-defined]


def test_a_version_1_event_goes_through_every_upcaster() -> None:
    v1 = _older(
        class_version=None, key_name=None, key_data=None, metadata=None, description=None,
        server_group=None, availability_zone=None, forced_host=None,
    )  # fmt: skip
    event = _app().mapper.to_domain_event(_stored(v1))
    assert event.networks == [AUTO]  # type: ignore[attr-defined]
    assert (event.key_name, event.availability_zone) == ("", "")  # type: ignore[attr-defined]


def test_new_events_are_stored_as_version_4() -> None:
    app = _app()
    vm = _new_instance()
    state = json.loads(app.mapper.to_stored_event(vm.collect_events()[0]).state)

    assert state["class_version"] == 4
    assert state["networks"] == [
        {"_type_": "network_request", "_data_": {
            "network_id": "", "port_id": "", "fixed_ip": "", "tag": "", "auto_allocate": True,
        }},
    ]  # fmt: skip


def _new_instance() -> Instance:
    vm: Instance = Instance._create(
        Instance.Requested, id=INSTANCE_ID, timestamp=datetime(2026, 3, 1, 12, tzinfo=UTC),
        project_id="project-1", user_id="user-1", name="web",
        flavor=FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0), image_id="img-1",
        networks=[AUTO], actor=USER, key_name="", key_data="", metadata={}, description="",
        server_group="", availability_zone="", forced_host="",
    )  # fmt: skip
    return vm


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_an_old_history_replays_to_the_state_a_new_one_makes() -> None:
    new, old = _app(), _app()
    vm = _new_instance()
    vm.schedule_on("compute-1", USER.as_service("scheduler"))
    vm.mark_spawned(USER.as_service("compute"), now=datetime.now(UTC))
    new.save(vm)
    # The same history, its first event as version 3 stored it.
    later = new.recorder.select_events(INSTANCE_ID, gt=1)
    old.recorder.insert_events([_stored(STORED_V3), *later])

    from_old = old.repository.get(INSTANCE_ID)
    assert from_old.networks == [AUTO]
    assert _state(from_old) == _state(new.repository.get(INSTANCE_ID))
    assert _state(from_old) == _state(project_aggregate(None, old.events.get(INSTANCE_ID)))
