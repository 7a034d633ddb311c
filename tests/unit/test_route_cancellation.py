"""A route's ``cancelled_by``: the work done in the save of the event that
owed it, so the relay never owes it (workers/declarations.py). A server's
ports, bound and plugged by its host in the spawn's save, owe its network
queue no plug; a port bound alone (os-interface, an admin) still does."""

from __future__ import annotations

from uuid import UUID, uuid4

from domain.port import Port
from workers import routes
from workers.relay_writes import OwedItem, RelayWrites


def _item(kind: str, aggregate: str, queue: str = "network.compute-1") -> OwedItem:
    return OwedItem(f"{kind}_{aggregate}_1", kind, aggregate, queue, "batch_7_network")


def test_a_port_bound_owes_its_host_a_plug_that_its_plugged_event_cancels() -> None:
    assert [r.kind for r in routes.owed_by(Port.Bound)] == ["network.plug"]
    assert routes.ROUTING.plan(Port.Plugged).cancels == ("network.plug",)
    assert "network.plug" not in routes.kinds_completed_by(Port.Plugged)
    # The plug leaves no record of its own: done once its batch ran.
    assert "network.plug" in routes.ROUTING.done_when_run
    assert Port.Plugged in routes.event_types()


def test_a_cancelled_item_is_not_owed_and_completes_nothing_in_the_table() -> None:
    port, other = str(uuid4()), str(uuid4())
    writes = RelayWrites()
    writes.owe(_item("network.plug", port), 2)
    writes.owe(_item("network.plug", other), 2)
    writes.owe(_item("network.unplug", port), 2)
    writes.cancel(uuid4(), ["network.plug"])  # another aggregate's: nothing
    assert len(writes.items()) == 3

    writes.cancel(UUID(port), ["network.plug"])

    assert sorted((i.kind, i.aggregate_id) for i in writes.items()) == sorted(
        [("network.plug", other), ("network.unplug", port)]
    )
    assert writes.completions == []  # rows owed by earlier batches stay owed


def test_a_port_its_spawn_bound_and_plugged_owes_nothing_and_lives_on_that_host() -> None:
    plan = routes.ROUTING.plan(Port.BoundAndPlugged)
    assert routes.owed_by(Port.BoundAndPlugged) == []
    assert [(p.set_by, p.field) for p in plan.places] == [(Port.BoundAndPlugged, "host")]
    # Its later events reach that host: a deletion owes it the unplug.
    assert routes.ROUTING.plan(Port.Deleted).clears
