"""The workshop role's context and its job, on the common job harness."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from commands.app import CloudApp
from commands.bootstrap import Settings, build_app
from tests.plugin_widget.domain import Widget
from workers.harness import Outcomes, Step, run_step
from workers.runtime import LedgerContext


@dataclass(frozen=True)
class WorkshopContext(LedgerContext):
    """The ledger, and the polisher's record of what it polished (its 'driver')."""

    polished: list[UUID] = field(default_factory=list)


def build_workshop(
    settings: Settings, host_name: str | None, environ: Mapping[str, str]
) -> WorkshopContext:
    del host_name, environ
    return WorkshopContext(build_app(settings.database_url, pool_size=2))


def _polish(context: WorkshopContext, widget: Widget) -> None:
    context.polished.append(widget.id)


def _record(context: WorkshopContext, widgets: Sequence[Widget]) -> list[UUID]:
    app: CloudApp = context.app
    for widget in widgets:
        widget.polish()
    app.save(*widgets)
    return [w.id for w in widgets]


POLISH = Step(Widget, lambda w, _c: w.state == "requested", _polish, _record, "polished")


def polish_widgets(context: WorkshopContext, ids: Sequence[UUID]) -> Outcomes:
    return run_step(POLISH, context, ids)
