"""Glance's glance-direct import on the Image aggregate: queued, staged
('uploading'), 'importing', then 'active'; each step only from its state."""

import pytest

from domain.errors import InvalidInput, InvalidTransition
from domain.image import Image
from domain.values import SYSTEM


def _image() -> Image:
    return Image("p1", "img", "raw", "bare", "private", 0, 0, {}, SYSTEM)


def test_stage_then_import_makes_the_image_active_with_the_staged_hashes() -> None:
    image = _image()
    image.start_staging("u1", SYSTEM)
    assert image.status == "uploading" and image.staged is None
    image.record_staged("md5", "sha", 3, "u1", SYSTEM)
    assert (image.status, image.staged) == (
        "uploading",
        {"checksum": "md5", "hash_value": "sha", "size": 3},
    )
    image.start_import("glance-direct", SYSTEM)
    assert image.status == "importing"
    image.record_upload("md5", "sha512", "sha", 3, SYSTEM)
    assert (image.status, image.size, image.checksum) == ("active", 3, "md5")


def test_an_interrupted_staging_goes_back_to_queued() -> None:
    image = _image()
    image.start_staging("u1", SYSTEM)
    assert image.abort_upload("u1", "client went away", SYSTEM)
    assert image.status == "queued"


def test_a_failed_import_keeps_the_staged_bytes_for_another_try() -> None:
    image = _image()
    image.start_staging("u1", SYSTEM)
    image.record_staged("md5", "sha", 3, "u1", SYSTEM)
    image.start_import("glance-direct", SYSTEM)
    image.fail_import("disk full", SYSTEM)
    assert image.status == "uploading" and image.staged is not None
    image.start_import("glance-direct", SYSTEM)
    assert image.status == "importing"


def test_import_needs_staged_bytes_and_a_known_method() -> None:
    image = _image()
    with pytest.raises(InvalidTransition):
        image.start_import("glance-direct", SYSTEM)  # nothing staged
    image.start_staging("u1", SYSTEM)
    with pytest.raises(InvalidTransition):
        image.start_import("glance-direct", SYSTEM)  # staging not finished
    image.record_staged("md5", "sha", 3, "u1", SYSTEM)
    with pytest.raises(InvalidInput):
        image.start_import("web-download", SYSTEM)
    with pytest.raises(InvalidTransition):
        image.start_upload("u2", SYSTEM)  # no direct upload onto staged data


def test_an_active_image_takes_no_staging() -> None:
    image = _image()
    image.record_upload("md5", "sha512", "sha", 3, SYSTEM)
    with pytest.raises(InvalidTransition):
        image.start_staging("u1", SYSTEM)
