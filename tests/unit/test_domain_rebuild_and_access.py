"""Rebuild (domain/rebuild.py) and access addresses (domain/access_addresses.py)
on the Instance aggregate."""

from datetime import UTC, datetime

import pytest

from domain.errors import InvalidInput, InvalidTransition
from domain.instance import Instance
from domain.rebuild import Rebuilding
from domain.values import Actor, FlavorSnapshot, TaskState, VmState

USER = Actor("u1", "p1", ("member",), "req-1")


def _running() -> Instance:
    instance = Instance(
        project_id="p1", user_id="u1", name="vm",
        flavor=FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0), image_id="img-1",
        networks=[], actor=USER,
    )  # fmt: skip
    instance.schedule_on("h1", USER)
    instance.mark_spawned(USER, now=datetime(2026, 12, 1, tzinfo=UTC))
    instance.collect_events()
    return instance


def test_a_rebuild_takes_the_new_image_and_ends_running() -> None:
    instance = _running()
    instance.request_rebuild("img-2", USER)
    assert (instance.image_id, instance.task_state) == ("img-2", TaskState.REBUILDING)
    instance.mark_rebuilt(USER)
    assert (instance.vm_state, instance.task_state) == (VmState.ACTIVE, None)
    kinds = [type(e) for e in instance.collect_events()]
    assert kinds == [Rebuilding.RebuildRequested, Rebuilding.Rebuilt]


def test_a_server_that_was_off_stays_off_after_its_rebuild() -> None:
    instance = _running()
    instance.request_stop(USER)
    instance.mark_stopped(USER)
    instance.request_rebuild("img-2", USER)
    instance.mark_rebuilt(USER)
    assert instance.vm_state == VmState.STOPPED


def test_no_rebuild_while_a_task_runs_and_no_finish_without_one() -> None:
    instance = _running()
    instance.request_stop(USER)
    with pytest.raises(InvalidTransition):
        instance.request_rebuild("img-2", USER)
    with pytest.raises(InvalidTransition):
        _running().mark_rebuilt(USER)


def test_access_addresses_are_kept_in_their_usual_form_and_none_keeps_one() -> None:
    instance = _running()
    instance.set_access_addresses("192.0.2.1", "2001:DB8:0::1", USER)
    instance.set_access_addresses(None, None, USER)  # nothing changes: no event
    assert (instance.access_ipv4, instance.access_ipv6) == ("192.0.2.1", "2001:db8::1")
    assert len(instance.collect_events()) == 1
    instance.set_access_addresses("", None, USER)
    assert (instance.access_ipv4, instance.access_ipv6) == ("", "2001:db8::1")


@pytest.mark.parametrize(
    ("v4", "v6"),
    [
        ("notvalid", None),
        (None, "notvalid"),
        ("::1", None),
        (None, "10.0.0.1"),
        (None, "fe80::1%\n<x>"),  # a scope takes any text: refused
        ("\u0661\u0669\u0662.0.2.1", None),  # Arabic-Indic digits
    ],
)
def test_a_malformed_access_address_is_refused_and_nothing_changes(
    v4: str | None, v6: str | None
) -> None:
    instance = _running()
    with pytest.raises(InvalidInput):
        instance.set_access_addresses(v4, v6, USER)
    assert instance.collect_events() == [] and instance.access_ipv4 == ""
