"""A write is answered once the read models tracking its events show it
(read-your-writes, api/context.py): it waits for the positions of the
events it appended, in the views whose topics list them. An image event that
the images view does not list would let the answer come before the image
shows the request's earlier events: a staging answered while the image still
read 'queued'."""

from __future__ import annotations

import inspect

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.image import Image
from domain.image_import import ImageImport
from domain.image_safety import ImageSafety
from projections.registry import positions_to_wait_for


def _events_of(aggregate: type[Aggregate], base: type[Aggregate] = Aggregate) -> list[type]:
    """The event classes the aggregate declares, less the library's own and
    the copies the library makes of a base's (stored under the base's topic)."""
    inherited = set(vars(base)) | {"Event", "Created"}
    return [
        member
        for name, member in vars(aggregate).items()
        if inspect.isclass(member) and issubclass(member, Aggregate.Event)
        if name not in inherited
    ]


@pytest.mark.parametrize(
    "event_class",
    [
        *_events_of(Image, base=ImageSafety),
        *_events_of(ImageSafety, base=ImageImport),
        *_events_of(ImageImport),
    ],
    ids=lambda cls: cls.__qualname__,
)
def test_every_image_event_is_waited_for_in_the_images_view(event_class: type) -> None:
    assert positions_to_wait_for([(7, get_topic(event_class))]) == {"images": 7}
