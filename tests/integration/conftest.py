"""Fixtures for tests that run the API in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from api.app import build_state, create_app
from api.context import ApiState
from commands.bootstrap import Settings


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[tuple[Starlette, ApiState]]:
    """The API app on this test's database, for httpx's ASGI transport (its
    lifespan does not run there: open ``reads`` yourself)."""
    settings = Settings.from_env(
        {"CLOUDLEDGER_DATABASE_URL": database_url, "CLOUDLEDGER_STATE_DIR": str(tmp_path)}
    )
    api_state = build_state(settings)
    yield create_app(api_state, settings.max_json_body_bytes), api_state
    api_state.services.app.close()
