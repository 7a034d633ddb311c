"""Server tags on the Instance aggregate (domain/tags.py): Nova's limits."""

import pytest

from domain.errors import InvalidInput, InvalidTransition
from domain.instance import Instance
from domain.tags import require_tags
from domain.values import Actor, FlavorSnapshot

USER = Actor("u1", "p1", ("member",), "req-1")


def _instance() -> Instance:
    instance = Instance(
        project_id="p1", user_id="u1", name="vm",
        flavor=FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0), image_id="img",
        networks=[], actor=USER,
    )  # fmt: skip
    instance.collect_events()
    return instance


def test_tags_keep_their_order_and_count_a_duplicate_once() -> None:
    instance = _instance()
    instance.set_tags(["web", "prod", "web"], USER)
    assert instance.tags == ["web", "prod"]
    instance.set_tags(["web", "prod"], USER)  # the same set: no event
    assert len(instance.collect_events()) == 1


@pytest.mark.parametrize(
    "tags",
    [["a/b"], ["a,b"], [""], ["x" * 61], [f"t{n}" for n in range(51)], ["nul\x00"]],
)
def test_tags_outside_novas_limits_are_refused(tags: list[str]) -> None:
    instance = _instance()
    with pytest.raises(InvalidInput):
        instance.set_tags(tags, USER)
    assert instance.collect_events() == [] and instance.tags == []


def test_fifty_tags_of_sixty_characters_fit() -> None:
    assert len(require_tags([f"{n:02d}" + "x" * 58 for n in range(50)])) == 50


def test_a_deleted_server_takes_no_tags() -> None:
    instance = _instance()
    instance.request_delete(USER)
    instance.mark_deleted(USER)
    with pytest.raises(InvalidTransition):
        instance.set_tags(["late"], USER)
