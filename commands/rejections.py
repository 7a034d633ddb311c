"""Rejected requests (policy denials, quota refusals), kept for audit in a
plain append-only table beside the ledger: they change no state, so they are
not domain events and never enter the event store or its chain."""

from __future__ import annotations

from dataclasses import dataclass

from commands.side_tables import SideTable


@dataclass(frozen=True)
class Rejection:
    """One refused request: who asked, what for, and why it was refused.
    Holds no request body, so no password or token can reach it."""

    user_id: str
    project_id: str
    request_id: str
    action: str  # the policy rule, or the route ("POST /compute/v2.1/servers")
    target: str  # the resource id or path asked for
    outcome: str  # "denied" (policy) or "failure" (quota and other refusals)
    reason: str
    status: int


class PostgresRejections(SideTable):
    """The ``audit_rejections`` table, in the ledger's database."""

    DDL = (
        "CREATE TABLE IF NOT EXISTS audit_rejections ("
        " id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(),"
        " user_id text NOT NULL, project_id text NOT NULL, request_id text NOT NULL,"
        " action text NOT NULL, target text NOT NULL, outcome text NOT NULL,"
        " reason text NOT NULL, status integer NOT NULL)",
        "CREATE INDEX IF NOT EXISTS audit_rejections_at ON audit_rejections (at)",
    )

    def record(self, rejection: Rejection) -> None:
        r = rejection
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(
                "INSERT INTO audit_rejections (user_id, project_id, request_id, action,"
                " target, outcome, reason, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (r.user_id, r.project_id, r.request_id, r.action, r.target, r.outcome,
                 r.reason[:500], r.status),
            )  # fmt: skip
