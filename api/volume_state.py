"""What block storage's routes share: its commands (on the API's own
ledger application) and the per-project batching of volume creates, made
on first use and kept on the application, so the composition root
(api/app.py) needs nothing of block storage but its routes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from api.batching import AsyncBatcher
from api.context import state
from commands.receipt import Receipt
from commands.volume_service import CreateRequest, VolumeCommands


@dataclass
class VolumeApiState:
    commands: VolumeCommands
    # A project's creates wait here without a thread and go in one save
    # (commands/volumes.py), as its boots do.
    creates: AsyncBatcher[CreateRequest, Receipt]


def volume_state(request: Request) -> VolumeApiState:
    holder = request.app.state
    found: VolumeApiState | None = getattr(holder, "volumes", None)
    if found is None:
        commands = VolumeCommands(state(request).services.app)
        found = VolumeApiState(commands, AsyncBatcher(commands.create_volumes))
        holder.volumes = found
    return found
