"""The Widget's read model."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from projections.declarations import ProjectionResource
from projections.reader import Query
from projections.view import ProjectionView, topics_of
from tests.plugin_widget.domain import Widget


class WidgetsView(ProjectionView):
    name = "widgets"
    topics = topics_of(Widget.Requested, Widget.Polished)
    ddl = (
        """CREATE TABLE IF NOT EXISTS widgets (
            id uuid PRIMARY KEY, project_id text NOT NULL, name text NOT NULL,
            finish text NOT NULL, state text NOT NULL)""",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: Widget.Requested, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO widgets VALUES (%s, %s, %s, %s, 'requested')",
            (e.originator_id, e.project_id, e.name, f"{e.finish.coats} coats of {e.finish.kind}"),
        )

    @apply.register
    def _(self, e: Widget.Polished, cur: Cursor[DictRow]) -> None:
        cur.execute("UPDATE widgets SET state = 'polished' WHERE id = %s", (e.originator_id,))


def widget(project_id: str, widget_id: UUID) -> Query:
    """One widget of a project (another project's is none)."""
    return Query(
        "SELECT id, name, finish, state FROM widgets WHERE id = %s AND project_id = %s",
        (widget_id, project_id),
    )


RESOURCE = ProjectionResource("widget", (WidgetsView,))
