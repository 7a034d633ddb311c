"""Shared set-up for the integration tests: a seeded cloud on real PostgreSQL,
the relay and projectors built as the processes build them, and RQ bursts."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from redis import Redis
from rq import Queue

from commands.app import CloudApp
from commands.bootstrap import build_app, eventsourcing_env
from commands.catalog import CreateFlavor, RegisterHost
from commands.identity import CreateProject
from commands.image_files import DirectoryImageStore
from commands.images import CreateImage
from commands.servers import BootServer
from commands.services import Services
from domain.host import ComputeHost
from domain.instance import Instance
from domain.quota import Quota
from domain.values import SYSTEM, Actor
from projections.bootstrap import Projector, build_view, postgres_recorder
from projections.follower import LogFollower
from projections.group import ViewGroup
from projections.hosts import HostsView
from projections.view import APPLICATION_NAME, ProjectionView
from workers.dispatch import Relay
from workers.drivers.image_cache import Sink
from workers.rq_worker import ContextWorker

# Nova's classic m1.tiny and m1.small, plus one no host can take.
TINY, SMALL, HUGE = "1", "2", "99"


class PlainHasher:
    """A PasswordHasher without argon2's cost; these tests log nobody in."""

    def hash(self, password: str) -> str:
        return f"plain:{password}"

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == f"plain:{password}"


@dataclass
class Cloud:
    """A seeded cloud: project "demo" with a member, flavors, a public image."""

    app: CloudApp
    services: Services
    database_url: str
    member: Actor  # a member of project "demo"
    image_id: str

    @property
    def project_id(self) -> str:
        return str(self.member.project_id)

    def boot(self, name: str = "vm", flavor_id: str = TINY) -> UUID:
        cmd = BootServer(name, flavor_id, self.image_id, "none")
        return self.services.boot_server(cmd, self.member).id

    def action(self, action: str, instance_id: UUID) -> None:
        self.services.server_action(action, str(instance_id), self.member)

    def register_host(self, name: str, vcpus: int = 8, ram_mb: int = 8192) -> None:
        host = RegisterHost(name, vcpus=vcpus, ram_mb=ram_mb, disk_gb=500)
        self.services.register_host(host, SYSTEM)

    def set_quota(self, **limits: int) -> None:
        self.services.update_quota(self.project_id, limits, SYSTEM)

    def instance(self, instance_id: UUID) -> Instance:
        instance: Instance = self.app.repository.get(instance_id)
        return instance

    def quota(self) -> Quota:
        quota: Quota = self.app.repository.get(Quota.create_id(self.project_id))
        return quota

    def host(self, name: str) -> ComputeHost:
        host: ComputeHost = self.app.repository.get(ComputeHost.create_id(name))
        return host

    def last_notification_id(self) -> int:
        return postgres_recorder(self.app).max_notification_id() or 0


def _tiny_qcow2(folder: Path) -> bytes:
    """An empty qcow2 of 1 GiB (a few hundred KiB), which qemu-img can back onto."""
    path = folder / "seed.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1G"], check=True)
    data = path.read_bytes()
    path.unlink()
    return data


def store_uninspected(cloud: Cloud, data: bytes, disk_format: str = "qcow2") -> str:
    """An image whose bytes reached the store and the ledger without passing
    the door's inspection: what an upload before issue 19's fix left."""
    receipt = cloud.services.create_image(
        CreateImage("stored-early", disk_format=disk_format, visibility="public"), SYSTEM
    )
    image = cloud.app.repository.get(receipt.id)
    blob = cloud.services.image_store.put(str(image.id), [data], len(data))
    image.start_upload("early-upload", SYSTEM)
    image.record_upload(blob.md5, "sha512", blob.sha512, blob.size, SYSTEM, "early-upload")
    cloud.app.save(image)
    return str(image.id)


def store_fetcher(cloud: Cloud) -> Callable[[str, Sink], None]:
    """A compute host's fetch that serves the cloud's own stored bytes, as the
    Image API would, without HTTP."""

    def fetch(image_id: str, out: Sink) -> None:
        for chunk in cloud.services.image_store.open(image_id):
            out.write(chunk)

    return fetch


def build_cloud(database_url: str, image_dir: Path) -> Cloud:
    """Seed through the Services facade, as the API and ops/seed.py do."""
    app = build_app(database_url)
    services = Services(app, PlainHasher(), DirectoryImageStore(image_dir))
    admin = SYSTEM
    project_id = services.create_project(CreateProject("demo"), admin).id.hex
    member = Actor("user-demo", project_id, ("member",), "req-demo")
    services.create_flavor(CreateFlavor(TINY, "m1.tiny", 1, 512, 1), admin)
    services.create_flavor(CreateFlavor(SMALL, "m1.small", 1, 2048, 20), admin)
    services.create_flavor(CreateFlavor(HUGE, "m1.huge", 4, 1_000_000, 10), admin)
    image = services.create_image(CreateImage("cirros", visibility="public"), admin)
    services.upload_image(str(image.id), [_tiny_qcow2(image_dir.parent)], admin)
    services.update_quota(project_id, {"ram": 2_000_000}, admin)  # HUGE may boot
    return Cloud(app, services, database_url, member, str(image.id))


class RacedApp(CloudApp):
    """Another process's CloudApp on the same event store, losing a race on
    purpose: just before it saves an aggregate of the given type, the rival
    write runs, as if a concurrent request committed between load and save."""

    name = CloudApp.name  # the same tables, not "RacedApp"
    race: tuple[type, Callable[[], object]] | None = None

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        if self.race is not None and any(isinstance(o, self.race[0]) for o in objs):
            rival, self.race = self.race[1], None
            rival()
        return super().save(*objs, **kwargs)


def raced_app(database_url: str, kind: type, rival: Callable[[], object]) -> RacedApp:
    app = RacedApp(eventsourcing_env(database_url))
    app.race = (kind, rival)
    return app


def es_env(database_url: str) -> dict[str, str]:
    return eventsourcing_env(database_url)


def follower_for(
    app: CloudApp, view: ProjectionView, start_after: int | None = None
) -> LogFollower:
    """A follower feeding `view` from its recorded position (or `start_after`)."""
    return LogFollower(
        name=view.name,
        recorder=postgres_recorder(app),
        mapper=app.mapper,
        handle_batch=view.apply_batch,
        start_after=view.position() if start_after is None else start_after,
        waker=threading.Event(),
        topics=view.topics,
    )


@dataclass
class RelayRig:
    """The relay process's parts: the Relay view and the follower feeding it."""

    relay: Relay
    follower: LogFollower

    def catch_up(self) -> None:
        self.follower.catch_up()


def build_relay(
    app: CloudApp, database_url: str, redis_url: str, cls: type[Relay] = Relay
) -> RelayRig:
    relay = build_view(cls, es_env(database_url))
    relay.redis = Redis.from_url(redis_url)
    relay.gathering = False  # the tests run the queues right after each relay batch
    return RelayRig(relay, follower_for(app, relay))


def hosts_projector(cloud: Cloud) -> tuple[HostsView, Projector]:
    view = build_view(HostsView, es_env(cloud.database_url))
    return view, Projector(cloud.app, ViewGroup(view.datastore, [view]), cloud.database_url)


def queued_ids(redis_url: str, queue: str) -> list[str]:
    return list(Queue(queue, connection=Redis.from_url(redis_url)).get_job_ids())


class BurstWorker(ContextWorker):  # type: ignore[misc]
    """Our workers' RQ loop (each job run with the worker's context) without
    the pub/sub control channel (kill/stop-job commands), which no test
    sends: joining its thread at the end of every burst can cost up to a second."""

    def subscribe(self) -> None:
        pass


def run_burst(redis_url: str, queues: Iterable[str], context: object) -> bool:
    """Run every queued job in this process with ``context``; True if any ran."""
    names = list(queues)
    contexts = dict.fromkeys(names, context)
    worker = BurstWorker(names, connection=Redis.from_url(redis_url), contexts=contexts)
    return bool(worker.work(burst=True, logging_level="WARNING"))


def rows(database_url: str, query: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(query, tuple(params)).fetchall()  # type: ignore[arg-type]


def execute(database_url: str, *statements: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def tracked_position(database_url: str, view_name: str) -> int | None:
    found = rows(
        database_url,
        f"SELECT notification_id FROM {view_name}_tracking WHERE application_name=%s",
        (APPLICATION_NAME,),
    )
    return found[0]["notification_id"] if found else None


T = TypeVar("T")


class LoopThread:
    """An event loop in a thread of its own for the whole module: the API's
    read pool and progress listener live on it from test to test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="api-loop")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
