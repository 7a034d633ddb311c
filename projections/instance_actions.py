"""Instance actions, from the ledger (``openstack server event list``): each
user action on a server, found by its request id, with the steps the
workers took for it. Exact by construction: a worker's event carries the
request id of the action it carries out."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.instance import Instance
from domain.resize import Resizing
from projections.reader import Query
from projections.view import ProjectionView, topics_of

# The user actions that start an instance action, by Nova's names.
STARTS: dict[type, str] = {
    Instance.Requested: "create",
    Instance.StopRequested: "stop",
    Instance.StartRequested: "start",
    Instance.DeleteRequested: "delete",
    Instance.PowerActionRequested: "reboot",  # or pause, ...: the event names it (below)
    Instance.SnapshotRequested: "createImage",
    Instance.Locked: "lock",
    Instance.Unlocked: "unlock",
    Resizing.ResizeRequested: "resize",
    Resizing.ResizeConfirmed: "confirmResize",
    Resizing.RevertRequested: "revertResize",
}
# The steps, by Nova's event names, and whether they succeeded.
STEPS: dict[type, tuple[str, str]] = {
    Instance.Scheduled: ("conductor_schedule_and_build_instances", "Success"),
    Instance.Spawned: ("compute_build_and_run_instance", "Success"),
    Instance.Failed: ("compute_build_and_run_instance", "Error"),
    Instance.Stopped: ("compute_stop_instance", "Success"),
    Instance.Started: ("compute_start_instance", "Success"),
    Instance.Deleted: ("compute_terminate_instance", "Success"),
    Instance.PowerActionDone: ("compute_reboot_instance", "Success"),  # named per action
    Instance.SnapshotDone: ("compute_snapshot_instance", "Success"),  # or Error: see below
    Resizing.ResizeScheduled: ("conductor_migrate_server", "Success"),
    Resizing.ResizeRefused: ("conductor_migrate_server", "Error"),
    Resizing.ResizeMigrated: ("compute_resize_instance", "Success"),
    Resizing.ResizeFinished: ("compute_finish_resize", "Success"),
    Resizing.StashDropped: ("compute_confirm_resize", "Success"),
    Resizing.RevertDestCleaned: ("compute_revert_resize", "Success"),
    Resizing.ResizeReverted: ("compute_finish_revert_resize", "Success"),
}


def _action_name(event: Any) -> str:
    if isinstance(event, Instance.PowerActionRequested):
        return _action_name_of(event.action)
    return STARTS[type(event)]


def _step_name(event: Any) -> str:
    if isinstance(event, Instance.PowerActionDone):
        return f"compute_{_action_name_of(event.action)}_instance"
    return STEPS[type(event)][0]


def _action_name_of(action: str) -> str:
    return "reboot" if action.startswith("reboot") else action


class InstanceActionsView(ProjectionView):
    name = "instance_actions"
    topics = topics_of(*STARTS, *STEPS)
    ddl = (
        """CREATE TABLE IF NOT EXISTS instance_actions (
            instance_id uuid NOT NULL, request_id text NOT NULL, action text NOT NULL,
            user_id text NOT NULL, project_id text NOT NULL,
            start_time timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            message text, PRIMARY KEY (instance_id, request_id, action))""",
        """CREATE TABLE IF NOT EXISTS instance_action_events (
            instance_id uuid NOT NULL, request_id text NOT NULL, event text NOT NULL,
            start_time timestamptz NOT NULL, finish_time timestamptz NOT NULL,
            result text NOT NULL, host text)""",
        "CREATE INDEX IF NOT EXISTS instance_action_events_by_action "
        "ON instance_action_events (instance_id, request_id)",
    )

    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Every topic is a start or a step (the tables above say which)."""
        if type(event) in STARTS:
            self._start(event, _action_name(event), cur)
        elif type(event) in STEPS:
            result = STEPS[type(event)][1]
            if isinstance(event, Instance.SnapshotDone) and not event.succeeded:
                result = "Error"
            self._step(event, _step_name(event), result, cur)

    @staticmethod
    def _start(e: Any, action: str, cur: Cursor[DictRow]) -> None:
        actor = e.actor
        cur.execute(
            "INSERT INTO instance_actions VALUES (%s, %s, %s, %s, %s, %s, %s, NULL)"
            " ON CONFLICT DO NOTHING",  # a delete asked twice in one request
            (
                e.originator_id,
                actor.request_id,
                action,
                actor.user_id,
                actor.project_id,
                e.timestamp,
                e.timestamp,
            ),
        )

    @staticmethod
    def _step(e: Any, step: str, result: str, cur: Cursor[DictRow]) -> None:
        """A step starts where the action's previous one finished."""
        request_id, host = e.actor.request_id, getattr(e, "host", None)
        cur.execute(
            "INSERT INTO instance_action_events"
            " SELECT %s, %s, %s, coalesce("
            "  (SELECT max(finish_time) FROM instance_action_events"
            "   WHERE instance_id = %s AND request_id = %s),"
            "  (SELECT min(start_time) FROM instance_actions"
            "   WHERE instance_id = %s AND request_id = %s), %s),"
            " %s, %s, %s",
            (
                e.originator_id,
                request_id,
                step,
                e.originator_id,
                request_id,
                e.originator_id,
                request_id,
                e.timestamp,
                e.timestamp,
                result,
                host,
            ),
        )
        cur.execute(
            "UPDATE instance_actions SET updated_at = %s,"
            " message = CASE WHEN %s = 'Error' THEN 'Error' ELSE message END"
            " WHERE instance_id = %s AND request_id = %s",
            (e.timestamp, result, e.originator_id, request_id),
        )


def _nova_time(column: str) -> str:
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS {column}"""


_ACTION_COLUMNS = (
    "instance_id::text AS instance_uuid, request_id, action, user_id, project_id, message, "
    f"{_nova_time('start_time')}, {_nova_time('updated_at')}"
)


def actions_of(instance_id: Any) -> Query:
    """Newest first, as Nova lists them."""
    return Query(
        f"SELECT {_ACTION_COLUMNS} FROM instance_actions WHERE instance_id = %s"
        " ORDER BY start_time DESC, request_id DESC",
        (instance_id,),
    )


def action(instance_id: Any, request_id: str) -> Query:
    return Query(
        f"SELECT {_ACTION_COLUMNS} FROM instance_actions"
        " WHERE instance_id = %s AND request_id = %s ORDER BY start_time LIMIT 1",
        (instance_id, request_id),
    )


def steps(instance_id: Any, request_id: str) -> Query:
    return Query(
        f"SELECT event, result, host, {_nova_time('start_time')}, {_nova_time('finish_time')}"
        " FROM instance_action_events WHERE instance_id = %s AND request_id = %s"
        " ORDER BY finish_time",
        (instance_id, request_id),
    )
