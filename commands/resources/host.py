"""A compute host's command side: its claims grow with every boot, so it is
snapshotted and loads cheaply however long the ledger grows."""

from __future__ import annotations

from commands.declarations import CommandResource
from domain.host import ComputeHost

RESOURCE = CommandResource("host", snapshot_every={ComputeHost: 200})
