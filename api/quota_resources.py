"""Nova's quota set as each microversion shows it, for os-quota-sets and limits.

Three resources are enforced here (the Quota aggregate: instances, cores, ram,
the Instance's own quota keys).
The rest of Nova's set is shown with the value Nova shows by default, as the
schema of every microversion requires them; nothing here enforces them beyond
what the resource itself checks (128 metadata items a server), and an update
may not change them."""

from __future__ import annotations

from typing import Any

from domain.resources import quota_of
from domain.values import MAX_METADATA_ITEMS

UNLIMITED = -1
# Nova's defaults (nova/conf/quota.py; -1 for the nova-network ones it keeps
# only so that its answers keep their shape).
REFERENCE: dict[str, int] = {
    "metadata_items": MAX_METADATA_ITEMS,
    "key_pairs": 100,
    "server_groups": 10,
    "server_group_members": 10,
    "injected_files": 5,
    "injected_file_content_bytes": 10 * 1024,
    "injected_file_path_bytes": 255,
    "fixed_ips": UNLIMITED,
    "floating_ips": UNLIMITED,
    "security_groups": UNLIMITED,
    "security_group_rules": UNLIMITED,
}
# What each microversion stopped showing.
_GONE_AT_2_36 = frozenset({"fixed_ips", "floating_ips", "security_groups", "security_group_rules"})
_GONE_AT_2_57 = _GONE_AT_2_36 | {
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
}


def compute_defaults() -> dict[str, int]:
    """The compute quotas enforced here, with their default limits (other
    services' keys, such as networking's, are in their own quota APIs)."""
    return quota_of("instance")


def _hidden(version: tuple[int, int]) -> frozenset[str]:
    if version >= (2, 57):
        return _GONE_AT_2_57
    if version >= (2, 36):
        return _GONE_AT_2_36
    return frozenset()


def limits_of(enforced: dict[str, int], version: tuple[int, int]) -> dict[str, int]:
    """The quota set's limits at ``version``: the enforced ones as given, the
    rest Nova's defaults."""
    hidden = _hidden(version)
    defaults = compute_defaults()
    every = {**REFERENCE, **{r: enforced.get(r, limit) for r, limit in defaults.items()}}
    return {r: v for r, v in sorted(every.items()) if r not in hidden}


def detail_of(
    usage: dict[str, dict[str, int]], counted: dict[str, int], version: tuple[int, int]
) -> dict[str, dict[str, int]]:
    """Limits with what is in use: the enforced resources' own counts, and
    ``counted`` for the others this cloud counts (nothing else is in use)."""
    limits = limits_of({r: v["limit"] for r, v in usage.items()}, version)
    in_use = {**counted, **{r: v["in_use"] for r, v in usage.items()}}
    return {r: {"limit": v, "in_use": in_use.get(r, 0), "reserved": 0} for r, v in limits.items()}


# Nova's absolute-limit names for each quota resource (views/limits.py).
_LIMIT_NAMES = {
    "ram": ("maxTotalRAMSize",),
    "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",),
    "key_pairs": ("maxTotalKeypairs",),
    "floating_ips": ("maxTotalFloatingIps",),
    "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",),
    "injected_file_content_bytes": ("maxPersonalitySize",),
    "security_groups": ("maxSecurityGroups",),
    "security_group_rules": ("maxSecurityGroupRules",),
    "server_groups": ("maxServerGroups",),
    "server_group_members": ("maxServerGroupMembers",),
}
_USED_NAMES = {
    "totalRAMUsed": "ram",
    "totalCoresUsed": "cores",
    "totalInstancesUsed": "instances",
    "totalFloatingIpsUsed": "floating_ips",
    "totalSecurityGroupsUsed": "security_groups",
    "totalServerGroupsUsed": "server_groups",
}


def absolute_limits(
    usage: dict[str, dict[str, int]], counted: dict[str, int], version: tuple[int, int]
) -> dict[str, Any]:
    """GET /limits' ``absolute`` document at ``version`` (2.39 dropped maxImageMeta)."""
    detail = detail_of(usage, counted, version)
    absolute: dict[str, Any] = {}
    for resource, names in _LIMIT_NAMES.items():
        if resource in detail:
            for name in names:
                if not (name == "maxImageMeta" and version >= (2, 39)):
                    absolute[name] = detail[resource]["limit"]
    for name, resource in _USED_NAMES.items():
        if resource in detail:
            absolute[name] = detail[resource]["in_use"]
    return absolute
