"""A project's quota's command side: a reservation per boot and a release
per delete, so it is snapshotted and loads cheaply however long it grows."""

from __future__ import annotations

from commands.declarations import CommandResource
from domain.quota import Quota

RESOURCE = CommandResource("quota", snapshot_every={Quota: 200})
