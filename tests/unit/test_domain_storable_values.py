"""Values a read model could not store are refused before any event exists."""

import pytest

from domain.errors import InvalidInput
from domain.flavor import Flavor
from domain.image import Image
from domain.quota import DEFAULT_LIMITS, Quota
from domain.values import INT32_MAX, SYSTEM, require_text


@pytest.mark.parametrize("name", ["nul\x00name", "tab\tname", "lone \ud800 surrogate", " ", ""])
def test_names_with_control_or_surrogate_characters_are_invalid(name: str) -> None:
    with pytest.raises(InvalidInput):
        require_text(name, "Server name")


def test_an_ordinary_unicode_name_is_fine() -> None:
    require_text("web-01 ✓ café", "Server name")


def test_a_flavor_larger_than_int32_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="Flavor ram"):
        Flavor.validate("huge", 1, INT32_MAX + 1, 1)


def test_a_quota_limit_larger_than_int32_is_invalid_and_changes_nothing() -> None:
    quota = Quota(project_id="p", limits=DEFAULT_LIMITS, actor=SYSTEM)
    quota.collect_events()
    with pytest.raises(InvalidInput):
        quota.set_limits({"instances": INT32_MAX + 1}, SYSTEM)
    assert quota.collect_events() == []
    assert quota.limits["instances"] == DEFAULT_LIMITS["instances"]


@pytest.mark.parametrize(
    "properties",
    [{"k\x00": "v"}, {"k": "v\x00"}, {"k": 1}, {"": "v"}],
)
def test_image_properties_must_be_storable_strings(properties: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        Image.validate_fields("img", 0, 0, properties)  # type: ignore[arg-type]
