"""Block storage's policy rules, and Nova's volume attachments': who may do
what by default (api/policy.py merges them into its ACTIONS). Readers read,
members change their project's, the cloud's admin resets statuses, lists
every project, creates types, sets quotas and lists the services."""

from __future__ import annotations

ADMIN = "rule:admin_api"
MEMBER = "rule:project_member_api"
READER = "rule:project_reader_api"

VOLUME_ACTIONS: dict[str, str] = {
    "compute:volume_attachments:index": READER,
    "compute:volume_attachments:show": READER,
    "compute:volume_attachments:create": MEMBER,
    "compute:volume_attachments:delete": MEMBER,
    "volume:volumes:create": MEMBER,
    "volume:volumes:get": READER,
    "volume:volumes:get_all": READER,
    "volume:volumes:get_all:all_tenants": ADMIN,
    "volume:volumes:update": MEMBER,
    "volume:volumes:delete": MEMBER,
    "volume:volumes:action": READER,  # each action checks its own rule too
    "volume:volumes:extend": MEMBER,
    "volume:volumes:reset_status": ADMIN,
    "volume:volumes:set_bootable": MEMBER,
    "volume:volumes:update_readonly_flag": MEMBER,
    "volume:volumes:reserve": MEMBER,
    "volume:volumes:upload_image": MEMBER,
    "volume:volumes:metadata:get": READER,
    "volume:volumes:metadata:update": MEMBER,
    "volume:volumes:metadata:delete": MEMBER,
    "volume:snapshots:create": MEMBER,
    "volume:snapshots:get": READER,
    "volume:snapshots:get_all": READER,
    "volume:snapshots:update": MEMBER,
    "volume:snapshots:delete": MEMBER,
    "volume:snapshots:reset_status": ADMIN,
    "volume:snapshots:metadata:get": READER,
    "volume:snapshots:metadata:update": MEMBER,
    "volume:snapshots:metadata:delete": MEMBER,
    "volume:types:get": READER,
    "volume:types:create": ADMIN,
    "volume:quotas:show": READER,
    "volume:quotas:show:other_project": ADMIN,
    "volume:quotas:update": ADMIN,
    "volume:limits": READER,
    "volume:services:list": ADMIN,
    "volume:availability_zones:list": READER,
    "volume:extensions:list": READER,
}
