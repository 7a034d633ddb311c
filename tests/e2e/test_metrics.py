"""GET /metrics and the JSON logs on the whole stack: after a boot, the
scrape shows the events it appended, the read models' lag, the queues and
the jobs each worker role ran; and the boot's request id is on the JSON log
lines of the API and of the workers that carried it out."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.helpers import (
    COMPUTE,
    Session,
    Stack,
    boot_body,
    create_member,
    login,
    running_stack,
    wait_for,
    wait_for_status,
)
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


SCRAPE_TOKEN = f"scrape-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def own_stack(
    pg_cluster: PrivateCluster,
    redis_server: PrivateRedis,
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """A stack of this module's own (Redis database 11), with a scrape token."""
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/11"
    token_file = tmp_path_factory.mktemp("metrics") / "scrape.token"
    token_file.write_text(SCRAPE_TOKEN + "\n")
    settings = {"CLOUDLEDGER_METRICS_TOKEN_FILE": str(token_file)}
    with running_stack(pg_cluster, template_database, redis_url, "db", settings, hosts=1) as stack:
        yield stack


@pytest.fixture(scope="module")
def admin(own_stack: Stack) -> Iterator[Session]:
    session = login(own_stack, "admin", own_stack.admin_password, "admin")
    yield session
    session.client.close()


def _scrape(admin: Session) -> Samples:
    response = admin.client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _carries(line: dict[str, Any], request_id: str) -> bool:
    return line.get("request_id") == request_id or request_id in line.get("request_ids", [])


def _boot(admin: Session, image_id: str, request_id: str) -> str:
    response = admin.client.post(
        f"{COMPUTE}/servers",
        json=boot_body("metered", image_id),
        headers={"X-OpenStack-Request-Id": request_id},
    )
    assert response.status_code == 202, response.text
    assert response.headers["X-OpenStack-Request-Id"] == request_id
    server_id = str(response.json()["server"]["id"])
    wait_for_status(admin.client, server_id, ["ACTIVE"])
    return server_id


def _image(admin: Session) -> str:
    response = admin.client.get("/image/v2/images", params={"name": "tiny-qcow2"})
    assert response.status_code == 200, response.text
    return str(response.json()["images"][0]["id"])


def test_a_scrape_after_a_boot_shows_the_pipeline_and_its_logs_show_the_request(
    own_stack: Stack, admin: Session
) -> None:
    request_id = f"req-{uuid.uuid4()}"
    _boot(admin, _image(admin), request_id)

    samples = _scrape(admin)
    assert (_value(samples, "cloudledger_events_appended_total", topic=REQUESTED) or 0) >= 1
    assert (_value(samples, "cloudledger_events_appended_total", topic=SPAWNED) or 0) >= 1
    assert (_value(samples, "cloudledger_ledger_head") or 0) > 0
    for projection in ("servers", "relay"):
        assert _value(samples, "cloudledger_projection_lag_events", projection=projection) == 0
        assert _value(samples, "cloudledger_projection_lag_seconds", projection=projection) == 0
    # Every queue RQ knows of, which are those that have had a job.
    depths = {dict(labels)["queue"]: v for (name, labels), v in samples.items() if name == DEPTH}
    assert "scheduler" in depths and any(q.startswith("compute.") for q in depths), depths
    assert (_value(samples, "cloudledger_jobs_run_total", role="scheduler") or 0) >= 1
    assert (_value(samples, "cloudledger_jobs_run_total", role="compute") or 0) >= 1
    assert _value(samples, "cloudledger_jobs_failed_total", role="scheduler") == 0
    boots = {"method": "POST", "route": f"{COMPUTE}/servers", "status": "202"}
    assert _value(samples, "cloudledger_http_requests_total", **boots) == 1

    logs = own_stack.state_dir / "logs"
    api_lines = _json_lines(logs / "api.log")  # every line of it is JSON
    answered = {line.get("route") for line in api_lines if _carries(line, request_id)}
    # The boot, and the image download its compute host made for it (a fresh host).
    assert {f"{COMPUTE}/servers", "/image/v2/images/{id}/file"} <= answered, answered

    def worker_lines() -> list[dict[str, Any]]:
        found = []
        for log in [logs / "scheduler.log", *logs.glob("compute@*.log")]:
            found += [line for line in _json_lines(log) if _carries(line, request_id)]
        return found

    carried = wait_for(worker_lines, 5.0, f"worker log lines of {request_id}")
    roles = {line["role"] for line in carried}
    assert "scheduler" in roles and any(r.startswith("compute@") for r in roles), roles


def test_metrics_take_the_scrape_token_and_refuse_members_and_strangers(
    own_stack: Stack,
) -> None:
    url = f"{own_stack.url}/metrics"
    scraped = httpx.get(url, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}, timeout=10)
    assert scraped.status_code == 200, scraped.text
    assert "cloudledger_queue_depth" in scraped.text
    wrong = httpx.get(url, headers={"Authorization": "Bearer guessed"}, timeout=10)
    assert wrong.status_code == 401
    member = create_member(own_stack, "metrics")
    session = login(own_stack, member.user, member.password, member.project)
    try:
        assert session.client.get("/metrics").status_code == 403
    finally:
        session.client.close()


DEPTH = "cloudledger_queue_depth"
REQUESTED = "domain.instance:Instance.Requested"
SPAWNED = "domain.instance:Instance.Spawned"
