"""The billing replay on real PostgreSQL: servers booted, resized and stopped
by the real jobs, then os-simple-tenant-usage (over HTTP, from its
projection) and the billing replay (from the ledger) agree on the period."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import SMALL, build_cloud, build_relay, es_env, follower_for, hosts_projector
from starlette.applications import Starlette
from test_resize import SOURCE, Hosts, booted

from api.context import ApiState
from commands.tokens import TokenScope
from domain.metering import MICROS_PER_SECOND, as_intervals, totals_by_project, usage_lines
from domain.usage import ProjectUsage, usage_by_project
from ops.billing_replay import replay
from projections.bootstrap import build_view, postgres_recorder
from projections.usage import UsageView, as_interval, intervals

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def rig(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Hosts]:
    """The resize tests' cloud: one host whose jobs run in this process."""
    cloud = build_cloud(database_url, tmp_path / "images")
    view, projector = hosts_projector(cloud)
    relay = build_relay(cloud.app, cloud.database_url, redis_url)
    hosts = Hosts(cloud, relay, view, projector, {}, redis_url, tmp_path)
    hosts.add_host(SOURCE, ram_mb=8192)
    yield hosts
    relay.relay.datastore.close()
    view.datastore.close()
    cloud.app.close()


def _history(rig: Hosts) -> None:
    """One server resized, confirmed and stopped; one deleted; one running."""
    resized = booted(rig)
    rig.resize(resized, SMALL)
    rig.pump()
    rig.cloud.services.confirm_resize(str(resized), rig.cloud.member)
    rig.cloud.action("stop", resized)
    rig.pump()
    deleted = booted(rig)
    rig.cloud.action("delete", deleted)
    rig.pump()
    booted(rig)


Period = tuple[datetime, datetime]


def _os_simple_tenant_usage(
    api: tuple[Starlette, ApiState], periods: list[Period]
) -> list[list[dict[str, Any]]]:
    """GET /os-simple-tenant-usage?detailed=1 as an admin, for each period."""
    app, state = api
    admin_project = TokenScope(is_admin_project=True)  # the cloud's admin
    token, _ = state.tokens.issue(
        "admin-id", "admin", "admin-p", "admin", ("admin",), scope=admin_project
    )
    fmt = "%Y-%m-%dT%H:%M:%S.%f"

    async def get() -> list[list[dict[str, Any]]]:
        await state.reads.open()
        found = []
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                for start, stop in periods:
                    answer = await client.get(
                        "/compute/v2.1/os-simple-tenant-usage",
                        params={"start": start.strftime(fmt), "end": stop.strftime(fmt)}
                        | {"detailed": 1},
                        headers={"X-Auth-Token": token},
                    )
                    assert answer.status_code == 200, answer.text
                    found.append(answer.json()["tenant_usages"])
        finally:
            await state.reads.close()
        return found

    return asyncio.run(get())


def _agree(
    rig: Hosts, view: UsageView, served: list[dict[str, Any]], start: datetime, stop: datetime
) -> None:
    projected = [as_interval(r) for r in view.fetch_all(intervals(start, stop))]

    done = replay(postgres_recorder(rig.cloud.app), rig.cloud.app.mapper, start, stop)
    replayed = as_intervals(done.metering)
    # The same stretches, split at the same moments, at the same sizes.
    assert sorted(replayed, key=repr) == sorted(projected, key=repr)
    # os-simple-tenant-usage's arithmetic on the replayed stretches is its answer.
    ours = usage_by_project(replayed, start, stop, now=stop)
    assert len(served) == len(ours) == 1
    (theirs,) = served
    # Summed in server id order, as the API pages them (floats: order matters).
    mine = ProjectUsage(
        theirs["tenant_id"], dict(sorted(ours[theirs["tenant_id"]].instances.items()))
    )
    assert theirs["total_hours"] == mine.hours
    assert theirs["total_vcpus_usage"] == mine.vcpu_hours
    assert theirs["total_memory_mb_usage"] == mine.ram_mb_hours
    assert theirs["total_local_gb_usage"] == mine.disk_gb_hours
    assert {s["instance_id"]: s["hours"] for s in theirs["server_usages"]} == {
        i: u.hours for i, u in mine.instances.items()
    }
    # And billing's exact microseconds are those hours.
    lines = [x for x in usage_lines(done.metering, now=stop) if x.kind == "instance"]
    totals = totals_by_project(lines)[theirs["tenant_id"]]
    micros_per_hour = 3600 * MICROS_PER_SECOND
    assert sum(totals.micros.values()) / micros_per_hour == pytest.approx(mine.hours, abs=1e-9)
    assert totals.meters["vcpu_hours"] / micros_per_hour == pytest.approx(mine.vcpu_hours, abs=1e-9)


def test_billing_and_os_simple_tenant_usage_agree_on_the_same_period(
    rig: Hosts, api: tuple[Starlette, ApiState]
) -> None:
    _history(rig)
    stop = datetime.now(UTC)
    done = replay(postgres_recorder(rig.cloud.app), rig.cloud.app.mapper, EPOCH, stop)
    stretches = done.metering.stretches()
    assert [(s.product, s.state) for s in stretches if s.product == "m1.small"] == [
        ("m1.small", "resized"),
        ("m1.small", "active"),
        ("m1.small", "stopped"),
    ]
    moments = sorted(s.started_at for s in stretches)
    periods = [
        (stop - timedelta(hours=1), stop),  # the whole history
        (moments[1] + timedelta(microseconds=7), moments[-2]),  # cuts stretches at both ends
    ]
    usage_view = build_view(UsageView, es_env(rig.cloud.database_url))
    follower_for(rig.cloud.app, usage_view).catch_up()  # what the API reads
    answers = _os_simple_tenant_usage(api, periods)
    for (start, end), served in zip(periods, answers, strict=True):
        _agree(rig, usage_view, served, start, end)
    usage_view.datastore.close()


def test_a_replay_in_small_pages_reads_the_same_as_in_one(rig: Hosts) -> None:
    _history(rig)
    stop = datetime.now(UTC)
    recorder, mapper = postgres_recorder(rig.cloud.app), rig.cloud.app.mapper
    whole = replay(recorder, mapper, EPOCH, stop)
    paged = replay(recorder, mapper, EPOCH, stop, page_size=3)
    assert paged.events == whole.events > 3
    assert paged.metering.stretches() == whole.metering.stretches()
    assert usage_lines(paged.metering, stop) == usage_lines(whole.metering, stop)
