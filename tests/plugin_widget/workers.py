"""The Widget's worker side: a queue family and a role of its own, and the
job its request owes."""

from __future__ import annotations

from tests.plugin_widget.domain import Widget
from workers.declarations import QueueFamily, Role, Route, WorkerResource

WORKSHOP = QueueFamily("workshop")

RESOURCE = WorkerResource(
    "widget",
    families=(WORKSHOP,),
    roles=(Role(WORKSHOP, "tests.plugin_widget.jobs:build_workshop"),),
    routes=(
        Route(
            "widget.polish",
            Widget.Requested,
            WORKSHOP,
            (Widget.Polished,),
            "tests.plugin_widget.jobs:polish_widgets",
        ),
    ),
)
