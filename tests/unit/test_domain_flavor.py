"""Unit tests for the Flavor aggregate."""

import pytest

from domain.errors import InvalidInput
from domain.flavor import Flavor
from domain.values import SYSTEM, FlavorSnapshot


def _flavor() -> Flavor:
    flavor = Flavor(
        flavor_id="2",
        name="m1.small",
        vcpus=1,
        ram_mb=2048,
        disk_gb=20,
        ephemeral_gb=1,
        swap_mb=512,
        is_public=True,
        actor=SYSTEM,
    )
    flavor.collect_events()
    return flavor


def test_flavor_id_is_derived_from_the_flavor_id() -> None:
    assert _flavor().id == Flavor.create_id("2")


def test_snapshot_copies_the_sizes() -> None:
    assert _flavor().snapshot() == FlavorSnapshot("2", "m1.small", 1, 2048, 20, 1, 512)


def test_new_flavor_is_active() -> None:
    assert _flavor().active


def test_deactivate_marks_inactive_once() -> None:
    flavor = _flavor()
    flavor.deactivate(SYSTEM)
    flavor.deactivate(SYSTEM)
    assert not flavor.active
    (event,) = flavor.collect_events()
    assert isinstance(event, Flavor.Deactivated)


@pytest.mark.parametrize("name", ["", "   ", "x" * 256])
def test_validate_rejects_bad_names(name: str) -> None:
    with pytest.raises(InvalidInput, match="name"):
        Flavor.validate(name, 1, 512, 1)


@pytest.mark.parametrize(
    ("vcpus", "ram_mb", "disk_gb"),
    [(0, 512, 1), (1, 0, 1), (1, 512, -1)],
)
def test_validate_rejects_bad_sizes(vcpus: int, ram_mb: int, disk_gb: int) -> None:
    with pytest.raises(InvalidInput):
        Flavor.validate("ok", vcpus, ram_mb, disk_gb)


def test_validate_accepts_zero_disk_and_a_255_character_name() -> None:
    Flavor.validate("x" * 255, 1, 1, 0)
