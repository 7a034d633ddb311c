"""A resource added from outside the tree (tests/plugin_widget/: an
aggregate, a transcoding, a view, a queue family with a role and a job)
is served by the real processes with nothing of cloudledger's edited: named
in CLOUDLEDGER_RESOURCES, `cloudledger worker` knows its role, the schema
has its table, the relay owes its job, its worker runs it on the common
harness, and the projector shows the outcome."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from eventsourcing.persistence import JSONTranscoder

from commands.app import CloudApp
from commands.bootstrap import eventsourcing_env

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.plugin_widget"


def _plugin(layer: str) -> ModuleType:
    """A module of the plugin, importable as the processes import it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"{PLUGIN}.{layer}")


class PluginApp(CloudApp):
    """This process's application, with the plugin's transcoding (this test
    process imported cloudledger before the plugin was named)."""

    name = CloudApp.name  # the same tables

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(_plugin("commands").FinishAsDict())


def _env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CLOUDLEDGER_RESOURCES": PLUGIN,
        "CLOUDLEDGER_DATABASE_URL": database_url,
        "CLOUDLEDGER_REDIS_URL": redis_url,
        "CLOUDLEDGER_STATE_DIR": str(tmp_path),
        "CLOUDLEDGER_LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
    }


def _python(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return _env(database_url, redis_url, tmp_path)


@pytest.fixture
def processes(env: dict[str, str], tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    _python(
        env,
        f"from ops.schema import create_schema; create_schema({env['CLOUDLEDGER_DATABASE_URL']!r})",
    )
    started = []
    for args in (["relay"], ["projector"], ["worker", "workshop"]):
        log = (tmp_path / f"{args[-1]}.log").open("wb")
        started.append(
            subprocess.Popen(
                [sys.executable, "-m", "ops.cli", *args], env=env, cwd=ROOT, stdout=log, stderr=log
            )
        )
    yield started
    for process in started:
        process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_plugin_is_in_every_derived_list(env: dict[str, str]) -> None:
    found = _python(
        env,
        "from workers import routes; from projections.registry import VIEW_CLASSES;"
        " from projections.audit import TYPES; from domain.quota import DEFAULT_LIMITS;"
        " from workers.dispatch import Relay; from tests.plugin_widget.domain import Widget;"
        " from eventsourcing.utils import get_topic;"
        " print([r.name for r in routes.ROLES], [r.kind for r in routes.ROUTES][-1],"
        " VIEW_CLASSES[-1].name, 'widget' in TYPES, DEFAULT_LIMITS['widgets'],"
        " get_topic(Widget.Requested) in Relay.topics)",
    )
    assert found.split() == [
        "['scheduler',",
        "'compute',",
        "'workshop']",
        "widget.polish",
        "widgets",
        "True",
        "5",
        "True",
    ]


def test_the_real_processes_serve_a_resource_no_file_of_theirs_names(
    database_url: str, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    app = PluginApp(eventsourcing_env(database_url))
    try:
        finish = _plugin("domain").Finish("wax", 2)
        widget_id = _plugin("commands").request_widget(app, "w1", finish)
    finally:
        app.close()

    deadline = time.monotonic() + 30
    row = None
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), _logs(tmp_path)
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT state, finish FROM widgets WHERE id = %s", (widget_id,)
            ).fetchone()
        if row is not None and row[0] == "polished":
            break
        time.sleep(0.1)
    assert row == ("polished", "2 coats of wax"), _logs(tmp_path)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM relay_pending").fetchone() == (0,)


def _logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in tmp_path.glob("*.log"))
