"""The Networking API's quotas: Neutron's keys on the project's one Quota
aggregate (domain/quota.py), so a limit is enforced in the save that makes
the resource; set with Neutron's ``check_limit`` (no limit below what is in
use), or reset to the defaults."""

from __future__ import annotations

from commands.app import CloudApp
from commands.loading import load
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.addressing import NeutronBadRequest
from domain.quota import DEFAULT_LIMITS, UNLIMITED, Quota
from domain.values import Actor

NETWORK_QUOTAS = ("network", "subnet", "port", "router", "floatingip", "security_group",
                  "security_group_rule")  # fmt: skip


def set_network_quota(
    app: CloudApp, project_id: str, limits: dict[str, int], check_limit: bool, actor: Actor
) -> Receipt:
    def attempt() -> Receipt:
        quota = load(app, Quota, Quota.create_id(project_id), f"Project {project_id}")
        if check_limit:
            used = quota.in_use
            for resource, limit in limits.items():
                if limit != UNLIMITED and limit < used.get(resource, 0):
                    raise NeutronBadRequest(
                        f"Quota limit {limit} for {resource} must be greater than or equal to"
                        f" already used and reserved {used[resource]}.",
                        "InvalidQuotaValue",
                    )
        quota.set_limits(limits, actor)
        return Receipt.of(quota.id, app.save(quota))

    return retry_on_conflict(attempt)


def reset_network_quota(app: CloudApp, project_id: str, actor: Actor) -> Receipt:
    defaults = {resource: DEFAULT_LIMITS[resource] for resource in NETWORK_QUOTAS}
    return set_network_quota(app, project_id, defaults, False, actor)
