"""A seeded simulation of a cloud's life, for synthetic ledgers (ops/generate.py).

Projects with users, quotas and images; compute hosts; servers booted,
stopped, started, rebooted, resized and deleted, each step through the
domain aggregates, with the quota and the host claims the real commands
would move in the same save. Every event is stamped with the simulated
time (billing reads timestamps) and appended to one timeline, so the ledger
is in time order, as a real one is. Deterministic for a seed: ids come
from the seeded generator, never from uuid4."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.domains import DEFAULT_DOMAIN_ID
from domain.errors import QuotaExceeded
from domain.host import ComputeHost
from domain.identity import Project, User
from domain.image import Image
from domain.instance import Instance
from domain.quota import Quota
from domain.resize import resize_claim_key
from domain.values import Actor, FlavorSnapshot, VmState, network_requests

FLAVORS = (  # by root disk, so a resize never shrinks it
    FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0),
    FlavorSnapshot("2", "m1.small", 1, 2048, 20, 0, 0),
    FlavorSnapshot("3", "m1.medium", 2, 4096, 40, 0, 0),
    FlavorSnapshot("4", "m1.large", 4, 8192, 80, 0, 0),
)
QUOTA = {"instances": 40, "cores": 160, "ram": 327_680}
HOST_SIZE = {"vcpus": 64, "ram_mb": 262_144, "disk_gb": 8192}
SERVERS_PER_PROJECT = 6  # the live servers the simulation keeps around
STEP = timedelta(seconds=1)  # between the steps of one operation (a request, then its job)
ADMIN = Actor("system", "", ("admin",), "generate")


_MOMENTS: dict[type, tuple[str, ...]] = {}  # by event class, found once each


def _moment_fields(event: Any) -> tuple[str, ...]:
    """An event's own datetime fields (Spawned.launched_at, Failed.at)."""
    kind = type(event)
    if kind not in _MOMENTS:
        _MOMENTS[kind] = tuple(
            f.name
            for f in dataclasses.fields(event)
            if f.name != "timestamp" and "datetime" in str(f.type)
        )
    return _MOMENTS[kind]


class SyntheticCloud:
    """The simulated cloud; ``step`` performs one operation at the next moment."""

    def __init__(self, seed: int, projects: int, hosts: int, start: datetime, gap: timedelta):
        self.rng = random.Random(seed)  # noqa: S311 (a simulation, not secrets)
        self.now, self.gap, self.seed = start, gap, seed
        self.timeline: list[Any] = []  # stamped events, in time order, not yet saved
        self.hot: dict[UUID, Aggregate] = {}  # quotas and hosts: kept for the whole run
        self.users: dict[str, list[Actor]] = {}  # project id -> its members
        self.images: dict[str, list[Image]] = {}  # project id -> its active images
        self.live: list[Instance] = []  # not deleted
        self.requests = 0
        self._hosts: list[ComputeHost] = []
        self._base = self._set_up(projects, hosts)

    # Time and ids -----------------------------------------------------------

    def _id(self) -> UUID:
        """A seeded id, passed to the library's ``_create`` (the aggregates'
        constructors would draw a random uuid4)."""
        return UUID(int=self.rng.getrandbits(128), version=4)

    def _stamp(self, aggregate: Aggregate) -> None:
        """Give the aggregate's new events the simulated time, move them to
        the timeline, and step the clock."""
        event: Any  # a dataclass, as every event of the library is
        for event in aggregate.collect_events():
            changes = dict.fromkeys(("timestamp", *_moment_fields(event)), self.now)
            self.timeline.append(dataclasses.replace(event, **changes))
        self.now += STEP

    def _request(self, user: Actor) -> Actor:
        self.requests += 1
        return dataclasses.replace(user, request_id=f"req-{self.seed}-{self.requests}")

    # The cloud before anyone boots --------------------------------------------

    def _set_up(self, projects: int, hosts: int) -> Image:
        for n in range(hosts):
            name = f"sim{self.seed}-host-{n:02d}"
            host = ComputeHost(name, **HOST_SIZE, cpu_ratio=16.0, ram_ratio=1.5,
                               disk_ratio=1.0, zone="nova", actor=ADMIN)  # fmt: skip
            self._stamp(host)
            self.hot[host.id] = host
            self._hosts.append(host)
        for n in range(projects):
            self._project(n)
        return self._upload(ADMIN, "", "public")

    def _project(self, n: int) -> None:
        project: Project = Project._create(
            Project.Created, id=self._id(), name=f"sim{self.seed}-{n:04d}",
            description="synthetic", domain_id=DEFAULT_DOMAIN_ID, tags=[], actor=ADMIN,
        )  # fmt: skip
        self._stamp(project)
        pid = project.id.hex
        quota = Quota(pid, QUOTA, ADMIN)
        self._stamp(quota)
        self.hot[quota.id] = quota
        self.users[pid], self.images[pid] = [], []
        for u in range(1 + n % 3):
            user: User = User._create(
                User.Created, id=self._id(), name=f"sim{self.seed}-{n:04d}-{u}",
                password_hash="!synthetic: no password logs in", default_project_id=pid,  # noqa: S106
                domain_id=DEFAULT_DOMAIN_ID, email="", description="", actor=ADMIN,
            )  # fmt: skip
            user.grant(pid, "member", ADMIN)
            self._stamp(user)
            self.users[pid].append(Actor(user.id.hex, pid, ("member",), ""))

    def _upload(self, user: Actor, owner: str, visibility: str) -> Image:
        actor = self._request(user)
        image: Image = Image._create(
            Image.Created, id=self._id(), owner=owner, name=f"img-{self.requests}",
            disk_format="qcow2", container_format="bare", visibility=visibility,
            min_disk=0, min_ram=0, properties={}, actor=actor,
        )  # fmt: skip
        self._stamp(image)
        image.start_upload(actor.request_id, actor)
        self._stamp(image)
        size = self.rng.randint(1, 10) * 1024**3
        image.record_upload("0" * 32, "sha512", "0" * 128, size, actor, actor.request_id)
        self._stamp(image)
        return image

    # Operations -----------------------------------------------------------------

    def step(self) -> None:
        """One user operation with the jobs it causes, then a pause."""
        before = len(self.timeline)
        roll = self.rng.random()
        target = len(self.users) * SERVERS_PER_PROJECT
        if not self.live or (roll < 0.3 and len(self.live) < target):
            self._boot()
        elif roll < 0.5:
            self._delete(self.rng.randrange(len(self.live)))
        elif roll < 0.75:
            self._stop_or_start(self._pick())
        elif roll < 0.85:
            self._resize(self._pick())
        elif roll < 0.95:
            self._reboot(self._pick())
        else:
            self._image_turnover()
        # The pause is in proportion to what happened, so events spread
        # evenly; each event's STEP already took part of its gap.
        made = len(self.timeline) - before
        self.now += max(self.gap - STEP, timedelta(0)) * (made * 2 * self.rng.random())

    def _pick(self) -> Instance:
        return self.live[self.rng.randrange(len(self.live))]

    def _quota(self, project_id: str) -> Quota:
        quota = self.hot[Quota.create_id(project_id)]
        assert isinstance(quota, Quota)
        return quota

    def _host(self, name: str) -> ComputeHost:
        host = self.hot[ComputeHost.create_id(name)]
        assert isinstance(host, ComputeHost)
        return host

    def _host_for(self, flavor: FlavorSnapshot, besides: ComputeHost | None) -> ComputeHost | None:
        """A random host with room (the scheduler's choice is not the point here)."""
        first = self.rng.randrange(len(self._hosts))
        for host in self._hosts[first:] + self._hosts[:first]:
            if host is not besides and host.fits(flavor.vcpus, flavor.ram_mb, flavor.disk_gb):
                return host
        return None

    def _boot(self) -> None:
        project = self.rng.choice(list(self.users))
        user = self._request(self.rng.choice(self.users[project]))
        flavor = self.rng.choice(FLAVORS[:3])
        amounts = {"instances": 1, "cores": flavor.vcpus, "ram": flavor.ram_mb}
        quota = self._quota(project)
        host = self._host_for(flavor, besides=None)
        if quota.fits(amounts, 1) < 1 or host is None:
            return
        image = self.rng.choice([self._base, *self.images[project]])
        vm: Instance = Instance._create(
            Instance.Requested, id=self._id(), project_id=project, user_id=user.user_id,
            name=f"vm-{self.requests}", flavor=flavor, image_id=str(image.id),
            networks=network_requests("auto"), actor=user, key_name="", key_data="", metadata={},
            description="", server_group="", availability_zone="", forced_host="",
        )  # fmt: skip
        quota.reserve(str(vm.id), amounts, user)
        self._stamp(quota)
        self._stamp(vm)
        worker = user.as_service("scheduler")
        host.claim(str(vm.id), flavor.vcpus, flavor.ram_mb, flavor.disk_gb, worker)
        self._stamp(host)
        vm.schedule_on(host.name, worker)
        self._stamp(vm)
        vm.mark_spawned(user.as_service("compute"), now=self.now)
        self._stamp(vm)
        self.live.append(vm)

    def _delete(self, index: int) -> None:
        vm = self.live[index]
        user = self._request(vm.last_request)
        vm.request_delete(user)
        self._stamp(vm)
        worker = user.as_service("compute")
        claims = vm.held_claims()
        vm.mark_deleted(worker)
        self._stamp(vm)
        for host, key in claims:
            self._host(host).release(key, worker)
            self._stamp(self._host(host))
        self._quota(vm.project_id).release(str(vm.id), worker)
        self._stamp(self._quota(vm.project_id))
        self.live[index] = self.live[-1]  # by position: aggregates compare by state, slowly
        self.live.pop()

    def _stop_or_start(self, vm: Instance) -> None:
        user, worker = self._actors(vm)
        if vm.vm_state == VmState.ACTIVE:
            vm.request_stop(user)
            self._stamp(vm)
            vm.mark_stopped(worker)
        else:
            vm.request_start(user)
            self._stamp(vm)
            vm.mark_started(worker)
        self._stamp(vm)

    def _reboot(self, vm: Instance) -> None:
        if vm.vm_state != VmState.ACTIVE:
            return self._stop_or_start(vm)
        user, worker = self._actors(vm)
        vm.request_power_action(self.rng.choice(("reboot", "reboot_hard")), user)
        self._stamp(vm)
        vm.mark_power_action_done(worker)
        self._stamp(vm)
        return None

    def _actors(self, vm: Instance) -> tuple[Actor, Actor]:
        user = self._request(vm.last_request)
        return user, user.as_service("compute")

    def _resize(self, vm: Instance) -> None:
        """Resize to a larger flavor on another host, and confirm, as the
        commands do (commands/server_resize.py, resize_steps.py, resize_claims.py)."""
        bigger = [f for f in FLAVORS if f.disk_gb > vm.flavor.disk_gb]
        if not bigger:
            return self._reboot(vm)
        flavor, (user, worker) = bigger[0], self._actors(vm)
        quota, source = self._quota(vm.project_id), self._host(str(vm.host))
        dest = self._host_for(flavor, besides=source)
        if dest is None:
            return self._reboot(vm)
        try:
            quota.adjust(
                str(vm.id), {"instances": 1, "cores": flavor.vcpus, "ram": flavor.ram_mb}, user
            )
        except QuotaExceeded:
            return self._reboot(vm)
        vm.request_resize(flavor, user)
        self._stamp(vm)
        self._stamp(quota)
        dest.claim(resize_claim_key(vm.id), flavor.vcpus, flavor.ram_mb, flavor.disk_gb, worker)
        self._stamp(dest)
        vm.resize_scheduled(dest.name, worker)
        self._stamp(vm)
        vm.mark_migrated(worker)
        self._stamp(vm)
        vm.mark_resize_finished(worker)
        self._stamp(vm)
        vm.confirm_resize(user)
        self._stamp(vm)
        source.release(str(vm.id), user)
        self._stamp(source)
        dest.rename_claim(resize_claim_key(vm.id), str(vm.id), user)
        self._stamp(dest)
        vm.request_stash_drop(user)
        self._stamp(vm)
        vm.mark_stash_dropped(source.name, worker)
        self._stamp(vm)
        return None

    def _image_turnover(self) -> None:
        """A project uploads an image, or deletes its oldest one."""
        project = self.rng.choice(list(self.users))
        owned = self.images[project]
        user = self._request(self.rng.choice(self.users[project]))
        if len(owned) >= 3:
            image = owned.pop(0)
            image.delete(user)
            self._stamp(image)
        else:
            owned.append(self._upload(user, project, "private"))
