"""GET /metrics on the API in this process, against real PostgreSQL and Redis:
requests by route template and status, admission refusals, events appended
by topic (counted incrementally, yet exactly), lag, queues and jobs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue
from starlette.applications import Starlette

from api.app import build_state, create_app
from api.context import ApiState
from commands.bootstrap import Settings
from commands.identity import CreateProject
from commands.logs import JsonFormatter, RequestIdFilter
from commands.tokens import TokenScope
from domain.values import SYSTEM
from workers.rq_worker import REQUEST_IDS_META, CloudWorker

ADMIN = TokenScope(is_admin_project=True)  # a token of the cloud's admin

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
FLAVOR = "/compute/v2.1/flavors/{id}"


@pytest.fixture
def metrics_api(
    database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[Starlette, ApiState]]:
    """The API app (as the ``api`` fixture) on this test's Redis too, with no
    boot admitted for any project, so a boot is refused."""
    settings = Settings.from_env(
        {
            "CLOUDLEDGER_DATABASE_URL": database_url,
            "CLOUDLEDGER_REDIS_URL": redis_url,
            "CLOUDLEDGER_STATE_DIR": str(tmp_path),
            "CLOUDLEDGER_MAX_PROJECT_IN_FLIGHT": "0",
        }
    )
    api_state = build_state(settings)
    yield create_app(api_state, settings.max_json_body_bytes), api_state
    api_state.services.app.close()


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _request_series(samples: Samples, route: str, status: str) -> dict[str, float]:
    labels = {"method": "GET", "route": route, "status": status}
    return {
        "count": _value(samples, "cloudledger_http_requests_total", **labels),
        "histogram_count": _value(
            samples, "cloudledger_http_request_duration_seconds_count", **labels
        ),
        "under_10s": _value(
            samples, "cloudledger_http_request_duration_seconds_bucket", le="10.0", **labels
        ),
    }


async def _scrape(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/metrics", headers={"X-Auth-Token": token})


async def _requests_then_scrapes(app: Starlette, api_state: ApiState) -> dict[str, object]:
    await api_state.reads.open()
    admin, _ = api_state.tokens.issue("u0", "admin", "p0", "admin", ("admin",), scope=ADMIN)
    member, _ = api_state.tokens.issue("u1", "alice", "p1", "demo", ("member",))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for flavor in ("nope-1", "nope-2"):  # two ids, one route
            missing = await client.get(
                f"/compute/v2.1/flavors/{flavor}", headers={"X-Auth-Token": member}
            )
            assert missing.status_code == 404, missing.text
        listed = await client.get("/compute/v2.1/flavors", headers={"X-Auth-Token": member})
        assert listed.status_code == 200, listed.text
        assert (await client.get("/no/such/path")).status_code == 404
        boot = {"server": {"name": "vm", "imageRef": "i", "flavorRef": "1", "networks": "none"}}
        refused = await client.post(
            "/compute/v2.1/servers", json=boot, headers={"X-Auth-Token": member}
        )
        denied = await _scrape(client, member)
        scraped = await _scrape(client, admin)
    await api_state.reads.close()
    return {"refused": refused.status_code, "denied": denied.status_code, "scraped": scraped}


def test_requests_are_counted_and_timed_by_route_template_and_status_for_admins_only(
    metrics_api: tuple[Starlette, ApiState],
) -> None:
    app, api_state = metrics_api
    outcome = asyncio.run(_requests_then_scrapes(app, api_state))
    assert outcome["denied"] == 403  # a member may not read them
    assert outcome["refused"] == 429
    scraped = outcome["scraped"]
    assert isinstance(scraped, httpx.Response)
    assert scraped.status_code == 200, scraped.text
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = _samples(scraped.text)
    assert _request_series(samples, FLAVOR, "404") == {
        "count": 2,
        "histogram_count": 2,
        "under_10s": 2,
    }
    assert _request_series(samples, "/compute/v2.1/flavors", "200")["count"] == 1
    assert _request_series(samples, "<unmatched>", "404")["count"] == 1
    assert _request_series(samples, "/metrics", "403")["count"] == 1
    assert not any("nope-1" in dict(labels).get("route", "") for _, labels in samples)
    assert _value(samples, "cloudledger_admission_refusals_total", scope="project") == 1
    assert _value(samples, "cloudledger_metrics_source_up", source="postgres") == 1
    assert _value(samples, "cloudledger_metrics_source_up", source="redis") == 1


def _scrape_now(app: Starlette, api_state: ApiState) -> Samples:
    async def scrape() -> str:
        admin, _ = api_state.tokens.issue("u0", "admin", "p0", "admin", ("admin",), scope=ADMIN)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            response = await _scrape(client, admin)
        assert response.status_code == 200, response.text
        return response.text

    return _samples(asyncio.run(scrape()))


def _ledger_by_topic(database_url: str) -> dict[str, float]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT topic, count(*) FROM cloudledger_events GROUP BY topic")
        return {topic: float(count) for topic, count in rows.fetchall()}


def _appended(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["topic"]: value
        for (name, labels), value in samples.items()
        if name == "cloudledger_events_appended_total"
    }


def test_events_appended_by_topic_match_the_ledger_scrape_after_scrape(
    metrics_api: tuple[Starlette, ApiState], database_url: str
) -> None:
    app, api_state = metrics_api
    services = api_state.services
    services.create_project(CreateProject("first"), SYSTEM)
    first = _scrape_now(app, api_state)
    assert _appended(first) == _ledger_by_topic(database_url) != {}
    services.create_project(CreateProject("second"), SYSTEM)
    services.create_project(CreateProject("third"), SYSTEM)
    second = _scrape_now(app, api_state)
    assert _appended(second) == _ledger_by_topic(database_url)
    assert sum(_appended(second).values()) > sum(_appended(first).values())


def test_lag_is_the_distance_and_the_age_of_the_oldest_unapplied_event(
    metrics_api: tuple[Starlette, ApiState], database_url: str
) -> None:
    app, api_state = metrics_api
    api_state.services.create_project(CreateProject("lagging"), SYSTEM)
    appended_at = time.time()
    time.sleep(0.3)  # no projector runs: every read model stays at 0
    samples = _scrape_now(app, api_state)
    head = _value(samples, "cloudledger_ledger_head")
    assert head == sum(_ledger_by_topic(database_url).values()) > 0
    for name in ("servers", "directory", "relay"):
        assert _value(samples, "cloudledger_projection_lag_events", projection=name) == head
        age = _value(samples, "cloudledger_projection_lag_seconds", projection=name)
        assert 0.3 <= age < time.time() - appended_at + 60, (name, age)


def test_queue_depths_and_jobs_run_and_failed_per_role_come_from_redis(
    metrics_api: tuple[Starlette, ApiState], redis_url: str
) -> None:
    app, api_state = metrics_api
    connection = Redis.from_url(redis_url)
    worked, waiting = (
        Queue("compute.h1", connection=connection),
        Queue("scheduler", connection=connection),
    )
    # Each job gets the worker's context first: str(context) runs, int(context, ...) fails.
    worked.enqueue("builtins.str", meta={REQUEST_IDS_META: ["req-fine"]})
    worked.enqueue("builtins.int", "not a number", meta={REQUEST_IDS_META: ["req-broken"]})
    waiting.enqueue("os.getpid")
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter("compute@h1"))
    worker_log = logging.getLogger("workers.rq_worker")
    worker_log.addHandler(handler)
    worker_log.setLevel(logging.INFO)
    try:
        worker = CloudWorker(
            ["compute.h1"],
            connection=connection,
            stopping=threading.Event(),
            contexts={"compute.h1": "the worker's context"},
        )
        worker.work(burst=True)
    finally:
        worker_log.removeHandler(handler)
    samples = _scrape_now(app, api_state)
    assert _value(samples, "cloudledger_queue_depth", queue="compute.h1") == 0
    assert _value(samples, "cloudledger_queue_depth", queue="scheduler") == 1
    assert _value(samples, "cloudledger_jobs_run_total", role="compute") == 2
    assert _value(samples, "cloudledger_jobs_failed_total", role="compute") == 1
    # Each job's lines carry the request id the relay gave it.
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert {line["request_id"] for line in logged} == {"req-fine", "req-broken"}
    assert all(line["role"] == "compute@h1" for line in logged)
    connection.close()


def test_an_unreadable_scrape_token_file_stops_the_api_before_it_starts(tmp_path: Path) -> None:
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    for path, says in ((tmp_path / "missing.token", "No such file"), (empty, "is empty")):
        env = {**os.environ, "CLOUDLEDGER_METRICS_TOKEN_FILE": str(path)}
        env["CLOUDLEDGER_STATE_DIR"] = str(tmp_path)
        done = subprocess.run(
            [sys.executable, "-m", "ops.cli", "api"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert says in done.stderr and str(path) in done.stderr
