"""A write is answered once the read models tracking its events show it
(read-your-writes, api/context.py): it waits for the positions of the
events it appended, in the views whose topics list them. An event its
resource's views do not list would let the answer come before they show
the request's earlier events (a staging answered while its image still read
'queued'). So every event each resource's aggregates can store is listed by
one of that resource's own views, unless the resource declares it unwatched
(no view shows it, so no request waits for it)."""

from __future__ import annotations

import pytest
from eventsourcing.utils import get_topic

from domain.declarations import DomainResource
from domain.image import Image
from domain.resources import declared
from projections.registry import RESOURCES, positions_to_wait_for

_VIEWS = {r.name: {v.name for v in r.views} for r in RESOURCES}
_EVENTS = [(r, e) for r in declared() for e in r.events()]


def _id(pair: tuple[DomainResource, type]) -> str:
    return f"{pair[0].name}:{pair[1].__qualname__}"


@pytest.mark.parametrize("pair", _EVENTS, ids=[_id(p) for p in _EVENTS])
def test_every_event_is_waited_for_in_its_resource_s_own_views(
    pair: tuple[DomainResource, type],
) -> None:
    resource, event_class = pair
    waited_in = set(positions_to_wait_for([(7, get_topic(event_class))]))
    if event_class in resource.unwatched:
        assert waited_in == set(), "declared unwatched, yet a view shows it"
    else:
        assert waited_in & _VIEWS.get(resource.name, set()), "no view of its resource lists it"


def test_every_read_model_belongs_to_a_declared_resource() -> None:
    assert set(_VIEWS) <= {r.name for r in declared()}


def test_the_events_found_are_those_the_aggregates_store() -> None:
    (image,) = [r for r in declared() if r.name == "image"]
    found = {e.__qualname__ for e in image.events()}
    assert {"Image.Created", "Image.Uploaded", "ImageImport.Staged"} <= found
    assert "Image.Event" not in found and Image.Uploaded in image.events()
