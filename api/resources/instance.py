"""Compute's servers: the servers, their actions, metadata, tags, network
interfaces, instance actions and usage."""

from __future__ import annotations

from api import (
    instance_actions,
    server_actions,
    server_ips,
    server_metadata,
    server_networks,
    server_tags,
    servers,
    usage,
)
from api.declarations import ApiResource, Rule
from api.policy import ADMIN, MEMBER, READER

POLICY: dict[str, str | Rule] = {
    "compute:servers:create": MEMBER,
    "compute:servers:create:forced_host": Rule(ADMIN, "boot on a host the caller names"),
    "compute:servers:index": READER,
    "compute:servers:show": READER,
    "compute:servers:delete": MEMBER,
    "compute:servers:stop": MEMBER,
    "compute:servers:start": MEMBER,
    "compute:servers:reboot": MEMBER,
    "compute:servers:pause": MEMBER,
    "compute:servers:unpause": MEMBER,
    "compute:servers:suspend": MEMBER,
    "compute:servers:resume": MEMBER,
    "compute:servers:lock": MEMBER,
    "compute:servers:console_output": MEMBER,
    "compute:servers:create_image": MEMBER,
    "compute:servers:unlock": MEMBER,
    "compute:servers:resize": MEMBER,
    "compute:servers:confirm_resize": MEMBER,
    "compute:servers:revert_resize": MEMBER,
    "compute:servers:rebuild": MEMBER,
    "compute:servers:index:all_tenants": Rule(ADMIN, "list every project's servers"),
    "compute:servers:update": MEMBER,
    "compute:instance_actions:index": READER,
    "compute:instance_actions:show": READER,
    "compute:instance_actions:events": Rule(ADMIN, "an action's events (with host details)"),
    "compute:server_tags:index": READER,
    "compute:server_tags:show": READER,
    "compute:server_tags:update": MEMBER,
    "compute:server_tags:update_all": MEMBER,
    "compute:server_tags:delete": MEMBER,
    "compute:server_tags:delete_all": MEMBER,
    "compute:servers:metadata:index": READER,
    "compute:servers:metadata:show": READER,
    "compute:servers:metadata:create": MEMBER,
    "compute:servers:metadata:update": MEMBER,
    "compute:servers:metadata:update_all": MEMBER,
    "compute:servers:metadata:delete": MEMBER,
    "compute:ips:index": READER,
    "compute:ips:show": READER,
    "compute:os_interface:list": READER,
    "compute:os_interface:show": READER,
    "compute:os_interface:create": MEMBER,
    "compute:os_interface:delete": MEMBER,
    "compute:usage:list": Rule(ADMIN, "every project's usage"),
    "compute:usage:show": Rule(READER, "a project's usage (target: the project asked about)"),
}

RESOURCE = ApiResource(
    "instance",
    [
        *servers.routes,
        *server_actions.routes,
        *server_metadata.routes,
        *server_tags.routes,
        *server_networks.routes,
        *server_ips.routes,
        *instance_actions.routes,
        *usage.routes,
    ],
    policy=POLICY,
)
