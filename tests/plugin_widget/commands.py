"""The Widget's command side: how its Finish is stored, and its one command."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Transcoding

from commands.app import CloudApp
from commands.declarations import CommandResource
from commands.receipt import Receipt
from tests.plugin_widget.domain import Finish, Widget


class FinishAsDict(Transcoding):
    type = Finish
    name = "widget_finish"

    def encode(self, obj: Finish) -> dict[str, Any]:
        return {"kind": obj.kind, "coats": obj.coats}

    def decode(self, data: dict[str, Any]) -> Finish:
        return Finish(**data)


def request_widget(app: CloudApp, project_id: str, name: str, finish: Finish) -> Receipt:
    widget = Widget(project_id=project_id, name=name, finish=finish)
    return Receipt.of(widget.id, app.save(widget))


RESOURCE = CommandResource("widget", transcodings=(FinishAsDict(),))
