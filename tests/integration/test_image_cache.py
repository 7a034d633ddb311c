"""A compute host's image cache: fetched once and verified while written,
never trusting a file it did not verify, and pruned of images no instance on
the host used for a while (through the real compute jobs on PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from helpers import Cloud, build_cloud, store_fetcher
from redis import Redis
from rq import Queue

from commands.compute import claim_host
from domain.values import VmState
from workers import runtime
from workers.drivers.disks import QemuImgDiskStore
from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.fake_hypervisor import FakeHypervisor
from workers.drivers.image_cache import DirectoryImageCache, ImageDigest, Sink
from workers.jobs import compute
from workers.jobs.image_cache import PRUNE_FUNC, list_job, prune_image_cache, prune_periodically

IMAGE = "c0ffee00-1111-4222-8333-444455556666"
OTHER = "c0ffee00-9999-4222-8333-444455556666"
DATA = bytes(512) + os.urandom(100_000)  # raw: no format's header
DIGEST = ImageDigest(len(DATA), hashlib.sha512(DATA).hexdigest())
HOST = "cache-host"
DAY = 86400.0


class Fetcher:
    """Writes ``data`` in pieces and counts its calls."""

    def __init__(self, data: bytes = DATA) -> None:
        self.data, self.calls = data, 0

    def __call__(self, out: Sink) -> None:
        self.calls += 1
        for i in range(0, len(self.data), 4096):
            out.write(self.data[i : i + 4096])


@pytest.fixture
def cache(tmp_path: Path) -> DirectoryImageCache:
    return DirectoryImageCache(tmp_path / "disks")


def _base_dir(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "disks" / "_base").iterdir())


def test_an_image_is_fetched_once_then_used_from_the_cache(cache: DirectoryImageCache) -> None:
    fetch = Fetcher()
    first = cache.ensure(IMAGE, DIGEST, fetch, "raw")
    second = cache.ensure(IMAGE, DIGEST, fetch, "raw")
    assert (fetch.calls, first, first.read_bytes()) == (1, second, DATA)


def test_each_image_gets_its_own_file(cache: DirectoryImageCache) -> None:
    paths = {cache.ensure(i, DIGEST, Fetcher(), "raw") for i in (IMAGE, OTHER)}
    assert len(paths) == 2


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(DATA[:-1] + b"?", id="wrong-hash"),
        pytest.param(DATA[:5000], id="short"),
        pytest.param(DATA + b"more", id="long"),
    ],
)
def test_bytes_that_do_not_match_the_ledger_are_never_cached(
    cache: DirectoryImageCache, tmp_path: Path, bad: bytes
) -> None:
    with pytest.raises(TransientDriverError):
        cache.ensure(IMAGE, DIGEST, Fetcher(bad), "raw")
    assert _base_dir(tmp_path) == []
    good = Fetcher()
    assert cache.ensure(IMAGE, DIGEST, good, "raw").read_bytes() == DATA
    assert good.calls == 1


def test_md5_is_checked_when_there_is_no_sha512(cache: DirectoryImageCache) -> None:
    md5_only = ImageDigest(len(DATA), md5=hashlib.md5(DATA, usedforsecurity=False).hexdigest())
    with pytest.raises(TransientDriverError):
        cache.ensure(IMAGE, md5_only, Fetcher(DATA[:-1] + b"?"), "raw")
    assert cache.ensure(IMAGE, md5_only, Fetcher(), "raw").read_bytes() == DATA


def test_a_failed_fetch_caches_nothing_and_is_tried_again(
    cache: DirectoryImageCache, tmp_path: Path
) -> None:
    def broken(out: Sink) -> None:
        out.write(DATA[:1000])
        raise TransientDriverError("download interrupted")

    with pytest.raises(TransientDriverError, match="interrupted"):
        cache.ensure(IMAGE, DIGEST, broken, "raw")
    assert _base_dir(tmp_path) == []
    assert cache.ensure(IMAGE, DIGEST, Fetcher(), "raw").read_bytes() == DATA


@pytest.mark.parametrize("fresh_process", [False, True])
def test_a_corrupted_cache_file_is_fetched_again(
    cache: DirectoryImageCache, tmp_path: Path, fresh_process: bool
) -> None:
    path = cache.ensure(IMAGE, DIGEST, Fetcher(), "raw")
    path.write_bytes(b"X" * len(DATA))  # same size, other bytes
    if fresh_process:  # a restarted worker reads the record from disk
        cache = DirectoryImageCache(tmp_path / "disks")
    fetch = Fetcher()
    assert cache.ensure(IMAGE, DIGEST, fetch, "raw").read_bytes() == DATA
    assert fetch.calls == 1


def test_a_truncated_cache_file_is_fetched_again(
    cache: DirectoryImageCache, tmp_path: Path
) -> None:
    path = cache.ensure(IMAGE, DIGEST, Fetcher(), "raw")
    with path.open("r+b") as f:
        f.truncate(10)
    fetch = Fetcher()
    assert cache.ensure(IMAGE, DIGEST, fetch, "raw").read_bytes() == DATA
    assert fetch.calls == 1


def test_a_file_the_cache_never_verified_is_never_used(
    cache: DirectoryImageCache, tmp_path: Path
) -> None:
    """A partial copy in place (an older version's, or one copied in by hand)."""
    base = tmp_path / "disks" / "_base"
    base.mkdir(parents=True)
    (base / IMAGE).write_bytes(DATA[:5000])
    fetch = Fetcher()
    assert cache.ensure(IMAGE, DIGEST, fetch, "raw").read_bytes() == DATA
    assert fetch.calls == 1
    assert cache.entries()[0].size == len(DATA)


def test_leftovers_of_a_crashed_fetch_are_swept(cache: DirectoryImageCache, tmp_path: Path) -> None:
    cache.ensure(IMAGE, DIGEST, Fetcher(), "raw")
    leftover = tmp_path / "disks" / "_base" / f".{OTHER}.dead.part"
    leftover.write_bytes(b"half")
    assert cache.sweep() == 1
    assert not leftover.exists()
    assert [e.image_id for e in cache.entries()] == [IMAGE]


def test_entries_report_size_and_last_use(cache: DirectoryImageCache) -> None:
    cache.ensure(IMAGE, DIGEST, Fetcher(), "raw")
    cache.mark_used(IMAGE, 1_000_000.0)
    (entry,) = cache.entries()
    assert (entry.image_id, entry.size, entry.last_used) == (IMAGE, len(DATA), 1_000_000.0)


def test_removing_an_image_drops_its_templates_too(tmp_path: Path) -> None:
    cache, disks = DirectoryImageCache(tmp_path / "disks"), QemuImgDiskStore(tmp_path / "disks")
    base = cache.ensure(IMAGE, DIGEST, Fetcher(), "raw")
    disks.ensure_instance_disks("ab12", base, "raw", 1, 0)
    templates = tmp_path / "disks" / "_templates"
    assert any(templates.iterdir())
    cache.remove(IMAGE)
    assert cache.entries() == []
    assert list(templates.iterdir()) == []
    assert _base_dir(tmp_path) == []


@pytest.mark.parametrize("bad_id", ["../escape", "UPPER", "-rf", "", "a/b", "a.verified"])
def test_unsafe_ids_are_refused(cache: DirectoryImageCache, bad_id: str) -> None:
    for call in (
        lambda: cache.ensure(bad_id, DIGEST, Fetcher(), "raw"),
        lambda: cache.mark_used(bad_id, 0.0),
        lambda: cache.remove(bad_id),
    ):
        with pytest.raises(PermanentDriverError):
            call()


# --- the host's jobs, against the ledger --------------------------------------


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    cloud.register_host(HOST)
    yield cloud
    cloud.app.close()


@pytest.fixture
def host(cloud: Cloud, tmp_path: Path) -> runtime.ComputeContext:
    root = tmp_path / "disks"
    return runtime.ComputeContext(
        cloud.app,
        HOST,
        FakeHypervisor(),
        QemuImgDiskStore(root),
        store_fetcher(cloud),
        DirectoryImageCache(root),
    )


def _spawned(cloud: Cloud, host: runtime.ComputeContext) -> UUID:
    iid = cloud.boot()
    assert claim_host(cloud.app, iid, HOST)
    assert compute.spawn_instances(host, [iid]) == {str(iid): "active"}
    return iid


def _deleted(cloud: Cloud, host: runtime.ComputeContext, iid: UUID) -> None:
    cloud.action("delete", iid)
    compute.delete_instances(host, [iid])
    assert cloud.instance(iid).vm_state == VmState.DELETED


def test_a_spawn_verifies_the_image_against_the_ledger(
    cloud: Cloud, host: runtime.ComputeContext
) -> None:
    _spawned(cloud, host)
    (entry,) = host.images.entries()
    stored = b"".join(cloud.services.image_store.open(cloud.image_id))
    assert (entry.image_id, entry.size) == (cloud.image_id, len(stored))


def test_an_image_in_use_is_kept_however_old(cloud: Cloud, host: runtime.ComputeContext) -> None:
    iid = _spawned(cloud, host)
    later = host.images.entries()[0].last_used + 10 * DAY
    assert prune_image_cache(host, later, max_age=DAY) == {cloud.image_id: "in use"}
    assert host.images.entries()[0].last_used == later  # its last use moves on
    assert host.disks.instance_disks(str(iid))  # its disks back onto the image


def test_an_unused_image_goes_after_the_age_limit_and_not_before(
    cloud: Cloud, host: runtime.ComputeContext
) -> None:
    iid = _spawned(cloud, host)
    _deleted(cloud, host, iid)
    last_used = host.images.entries()[0].last_used
    assert prune_image_cache(host, last_used + DAY - 60, DAY) == {cloud.image_id: "kept"}
    assert prune_image_cache(host, last_used + DAY, DAY) == {cloud.image_id: "removed"}
    assert host.images.entries() == []
    # A later boot fetches it again.
    _spawned(cloud, host)
    assert [e.image_id for e in host.images.entries()] == [cloud.image_id]


def test_the_cache_listing_says_what_is_in_use(cloud: Cloud, host: runtime.ComputeContext) -> None:
    _spawned(cloud, host)
    (entry,) = list_job(host)
    assert (entry["image_id"], entry["in_use"]) == (cloud.image_id, True)


def test_the_host_worker_puts_one_prune_job_on_its_own_queue(redis_url: str) -> None:
    stop = threading.Event()
    loop = prune_periodically(redis_url, HOST, 0.02, DAY, stop)
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        connection = Redis.from_url(redis_url)
        queue = Queue(f"compute.{HOST}", connection=connection)
        deadline = time.monotonic() + 5
        while not queue.job_ids and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # several rounds: the waiting job is not queued twice
        (job,) = queue.jobs
        assert (job.func_name, job.args) == (PRUNE_FUNC, (DAY,))
    finally:
        stop.set()
        thread.join()
