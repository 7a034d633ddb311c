"""`cloudledger image-scan` on real PostgreSQL (issue 19): every stored image
is inspected once; an unsafe one stored before uploads were inspected is
deactivated for good with an event naming why, a safe one gets its format and
virtual size recorded, and images inspected at upload are left alone. A dry
run appends nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from helpers import Cloud, build_cloud, es_env, follower_for, store_uninspected
from hostile_images import made_qcow2

from domain.errors import Forbidden
from domain.image import Image
from domain.values import SYSTEM
from ops.cli import main
from projections.bootstrap import build_view
from projections.images import ImagesView

SECRET = "/var/lib/cloudledger/service-credentials/compute.password"


@pytest.fixture
def cloud(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    monkeypatch.setenv("CLOUDLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("CLOUDLEDGER_STATE_DIR", str(tmp_path))  # its images/ is the store
    cloud = build_cloud(database_url, tmp_path / "images")
    yield cloud
    cloud.app.close()


def _project(cloud: Cloud) -> None:
    """The images read model, which the scan lists images from, caught up."""
    view = build_view(ImagesView, es_env(cloud.database_url))
    follower_for(cloud.app, view).catch_up()


def _image(cloud: Cloud, image_id: str) -> Image:
    image = cloud.app.repository.get(UUID(image_id))
    assert isinstance(image, Image)
    return image


def _head(cloud: Cloud) -> int:
    return cloud.app.recorder.max_notification_id() or 0


def _scan(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["image-scan", *argv]) == 0
    return capsys.readouterr().out


def test_image_scan_deactivates_the_unsafe_and_records_the_safe(
    cloud: Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = store_uninspected(cloud, made_qcow2(tmp_path, backing=SECRET).read_bytes())
    safe = store_uninspected(cloud, made_qcow2(tmp_path, size="2G").read_bytes())
    _project(cloud)
    before = _head(cloud)

    dry = _scan(capsys)

    assert _head(cloud) == before  # a dry run appends nothing
    assert f"{hostile}  unsafe" in dry and "would deactivate" in dry
    assert f"{cloud.image_id}  skipped  inspected already (qcow2)" in dry

    applied = _scan(capsys, "--apply")

    assert "3 images scanned, 1 unsafe deactivated" in applied
    found = _image(cloud, hostile)
    assert found.status == "deactivated"
    assert found.unsafe_reason == "a qcow2 image may not name a backing file"
    last = list(cloud.app.events.get(UUID(hostile)))[-1]
    assert type(last).__qualname__ == "ImageSafety.FoundUnsafe"
    assert last.reason == found.unsafe_reason and last.actor.user_id == "system:image-scan"
    assert SECRET not in last.reason
    with pytest.raises(Forbidden, match="safety inspection"):
        found.reactivate(SYSTEM)
    kept = _image(cloud, safe)
    assert (kept.status, kept.detected_format, kept.virtual_size) == ("active", "qcow2", 2 << 30)
    assert _image(cloud, cloud.image_id).status == "active"

    _project(cloud)
    after = _head(cloud)
    again = _scan(capsys, "--apply")
    assert _head(cloud) == after  # once: nothing is inspected twice
    assert "0 unsafe" in again and f"{safe}  skipped  inspected already" in again
