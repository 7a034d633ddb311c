"""Service users for the worker roles: made at first start, each with the
``service`` role on the ``service`` project. The password goes to a 0600
file in the state dir for that role's workers; the ledger keeps its hash."""

from __future__ import annotations

import contextlib
import os
import secrets

from commands.bootstrap import Settings
from commands.identity import CreateProject, CreateUser, UpdateUser
from commands.names import holder_of
from commands.services import Services
from domain.domains import DEFAULT_DOMAIN_ID
from domain.values import SYSTEM
from workers.service_auth import SERVICE_PROJECT, service_user_name


def ensure_service_users(services: Services, settings: Settings, roles: list[str]) -> list[str]:
    """Idempotent; a role whose password file is gone gets a new password."""
    created = []
    if holder_of(services.app, "project", DEFAULT_DOMAIN_ID, SERVICE_PROJECT) is None:
        services.create_project(CreateProject(SERVICE_PROJECT, "Service users"), SYSTEM)
        created.append(f"project {SERVICE_PROJECT}")
    for role in roles:
        path = settings.service_password_file(role)
        name = service_user_name(role)
        user = holder_of(services.app, "user", DEFAULT_DOMAIN_ID, name)
        if user is not None and path.exists():
            continue
        password = secrets.token_urlsafe(32)
        _write_private(settings, role, password)
        if user is None:
            cmd = CreateUser(name, password, SERVICE_PROJECT, ("service",))
            services.create_user(cmd, SYSTEM)
            created.append(f"service user {name}")
        else:
            services.update_user(UpdateUser(user.hex, password=password), SYSTEM)
            created.append(f"new password for {name}")
    return created


def _write_private(settings: Settings, role: str, password: str) -> None:
    path = settings.service_password_file(role)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.rename(tmp, path)
