"""The networking read models keep each resource as the document the
Networking API shows (``doc``, admin-only attributes included; the API
drops them for others), beside the columns that decide who sees it. Neutron
filters on any attribute, so lists filter, sort and page on the document.

Shared here: writing documents, and the list/show queries every resource
uses (filters on any attribute, repeated values, sorting, markers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from projections.reader import Query


def stamp(moment: datetime) -> str:
    """Neutron's timestamps: UTC, to the second, with a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def insert_doc(
    cur: Cursor[DictRow],
    table: str,
    row: Mapping[str, Any],
    doc: dict[str, Any],
    at: datetime,
) -> None:
    """A new resource: its columns and its document (timestamps, revision 1)."""
    doc = {**doc, "created_at": stamp(at), "updated_at": stamp(at), "revision_number": 1}
    columns = [*row, "created_at", "doc"]
    values = [*row.values(), at, Jsonb(doc)]
    placeholders = ", ".join(["%s"] * len(values))
    cur.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
        " ON CONFLICT (id) DO NOTHING",
        values,
    )


def patch_doc(
    cur: Cursor[DictRow],
    table: str,
    ident: UUID | str,
    patch: dict[str, Any],
    at: datetime,
    columns: Mapping[str, Any] | None = None,
) -> None:
    """Merge attributes into a document, stamp it updated, count the revision."""
    sets = "".join(f", {name} = %s" for name in columns or {})
    cur.execute(
        f"UPDATE {table} SET doc = doc || %s::jsonb || jsonb_build_object("
        "'updated_at', %s::text, 'revision_number', (doc->>'revision_number')::int + 1)"
        f"{sets} WHERE id = %s",
        [Jsonb(patch), stamp(at), *(columns or {}).values(), str(ident)],
    )


def delete_doc(cur: Cursor[DictRow], table: str, ident: UUID | str) -> None:
    cur.execute(f"DELETE FROM {table} WHERE id = %s", (str(ident),))


# Lists -----------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """A list request, checked by the API: filters (attribute -> any of these
    values, as JSON values), sorting, a page."""

    filters: Mapping[str, Sequence[Any]]
    sort: Sequence[tuple[str, bool]]  # (attribute, ascending)
    limit: int | None
    marker: UUID | None
    page_reverse: bool = False


def list_query(table: str, visible: tuple[str, Sequence[Any]], listing: Listing) -> Query:
    """Rows of ``table`` the caller may see (``visible``: an SQL condition
    and its parameters, on alias ``t``) matching the listing. Each filter
    attribute matches any of its values; list attributes match a member.
    Sorted by the sort keys then id; a marker starts after its row."""
    where, params = [visible[0]], list(visible[1])
    for attribute, values in listing.filters.items():
        clause, more = _filter(attribute, values)
        where.append(clause)
        params.extend(more)
    keys = [*listing.sort, ("id", listing.sort[-1][1] if listing.sort else True)]
    if listing.page_reverse:
        keys = [(k, not ascending) for k, ascending in keys]
    if listing.marker is not None:
        clause, more = _after_marker(table, keys, listing.marker)
        where.append(clause)
        params.extend(more)
    order = ", ".join(f"{_sort_expr(k)} {'ASC' if up else 'DESC'}" for k, up in keys)
    sql = f"SELECT t.doc FROM {table} t WHERE {' AND '.join(where)} ORDER BY {order}"
    if listing.limit is not None:
        sql += " LIMIT %s"
        params.append(listing.limit)
    return Query(sql, params)


def _filter(attribute: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    if attribute == "id":
        return "t.id::text = ANY(%s)", [[str(v) for v in values]]
    # A document's value equals one of the values, or (a list) holds one.
    options = " OR ".join(
        ["t.doc->%s = %s::jsonb OR (jsonb_typeof(t.doc->%s) = 'array' AND t.doc->%s @> %s::jsonb)"]
        * len(values)
    )
    params: list[Any] = []
    for value in values:
        params.extend([attribute, Jsonb(value), attribute, attribute, Jsonb([value])])
    return f"({options})", params


def _sort_expr(attribute: str) -> str:
    if attribute == "id":
        return "t.id"
    if attribute in ("created_at", "updated_at"):
        return f"(t.doc->>'{attribute}')"
    # jsonb orders numbers as numbers, strings as strings, null first.
    return f"(t.doc->'{attribute}')"


def _after_marker(table: str, keys: list[tuple[str, bool]], marker: UUID) -> tuple[str, list[Any]]:
    """Rows after the marker's row in the order of ``keys`` (a tuple compare
    needs one direction, so it is spelled out key by key)."""
    clauses, params = [], []
    for n in range(len(keys)):
        parts = []
        for key, _ in keys[:n]:
            parts.append(
                f"{_sort_expr(key)} = (SELECT {_sort_expr(key)} FROM {table} t WHERE t.id = %s)"
            )
            params.append(marker)
        key, up = keys[n]
        op = ">" if up else "<"
        parts.append(
            f"{_sort_expr(key)} {op} (SELECT {_sort_expr(key)} FROM {table} t WHERE t.id = %s)"
        )
        params.append(marker)
        clauses.append("(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(clauses) + ")", params


def one_query(table: str, visible: tuple[str, Sequence[Any]], ident: UUID) -> Query:
    sql = f"SELECT t.doc FROM {table} t WHERE t.id = %s AND {visible[0]}"
    return Query(sql, [ident, *visible[1]])
