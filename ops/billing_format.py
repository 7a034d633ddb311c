"""Billing output as a table, JSON or CSV: everything sorted and formatted
with fixed rules (decimals as text, times in UTC to the microsecond), so two
replays of the same period print the same bytes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.metering import MICROS_PER_SECOND, ProjectTotals, UsageLine
from domain.meters import METERS
from domain.pricing import QUANTITY_PLACES, Invoice

FORMATS = ("table", "json", "csv")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _units(numerator: int, denominator: int) -> str:
    exact = Decimal(numerator) / Decimal(denominator)
    return str(exact.quantize(Decimal(1).scaleb(-QUANTITY_PLACES)))


def _seconds(micros: int) -> str:
    return str(Decimal(micros).scaleb(-6))


def _meters(figures: dict[str, int]) -> dict[str, str]:
    return {m.name: _units(figures.get(m.name, 0), m.divisor * MICROS_PER_SECOND) for m in METERS}


def _line(line: UsageLine) -> dict[str, Any]:
    return {
        "kind": line.kind,
        "resource_id": line.resource_id,
        "name": line.name,
        "product": line.product,
        "state": line.state,
        "started_at": _iso(line.started_at),
        "ended_at": _iso(line.ended_at),
        "seconds": _seconds(line.micros),
        **_meters(dict(line.meters)),
    }


def usage_document(
    start: datetime,
    stop: datetime,
    lines: Sequence[UsageLine],
    totals: dict[str, ProjectTotals],
) -> dict[str, Any]:
    projects = []
    for project_id, t in totals.items():
        projects.append(
            {
                "project_id": project_id,
                "seconds": [
                    {"kind": k, "product": p, "state": s, "seconds": _seconds(m)}
                    for (k, p, s), m in sorted(t.micros.items())
                ],
                "meters": _meters(t.meters),
                "stretches": [_line(x) for x in lines if x.project_id == project_id],
            }
        )
    return {"start": _iso(start), "stop": _iso(stop), "projects": projects}


def render_usage(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, sort_keys=True) + "\n"
    if fmt == "csv":
        columns = ["project_id", *_line_columns()]
        rows = [
            {"project_id": p["project_id"], **s}
            for p in document["projects"]
            for s in p["stretches"]
        ]
        return _csv(columns, rows)
    return _usage_table(document)


def _line_columns() -> list[str]:
    fixed = ["kind", "resource_id", "name", "product", "state", "started_at", "ended_at"]
    return [*fixed, "seconds", *(m.name for m in METERS)]


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _usage_table(document: dict[str, Any]) -> str:
    out = [f"usage from {document['start']} to {document['stop']}"]
    if not document["projects"]:
        out.append("no usage")
    for p in document["projects"]:
        out.append(f"\nproject {p['project_id'] or '(none)'}")
        for s in p["stretches"]:
            out.append(
                f"  {s['kind']:<8} {s['resource_id']}  {s['product']:<12} {s['state']:<10}"
                f" {s['started_at']} .. {s['ended_at']}  {s['seconds']:>16} s"
            )
        out.append("  seconds by kind, product and state:")
        for total in p["seconds"]:
            label = f"{total['kind']} {total['product']} {total['state']}"
            out.append(f"    {label:<40} {total['seconds']:>20} s")
        out.append("  meters:")
        for name, value in p["meters"].items():
            out.append(f"    {name:<40} {value:>20}")
    return "\n".join(out) + "\n"


def invoice_document(invoice: Invoice) -> dict[str, Any]:
    totals = invoice.project_totals()
    return {
        "currency": invoice.currency,
        "start": _iso(invoice.start),
        "stop": _iso(invoice.stop),
        "lines": [
            {
                "project_id": line.project_id,
                "kind": line.kind,
                "item": line.item,
                "quantity": str(line.quantity),
                "unit": line.unit,
                "rate": str(line.rate),
                "amount": str(line.amount),
            }
            for line in invoice.lines
        ],
        "projects": [{"project_id": p, "total": str(t)} for p, t in totals.items()],
        "total": str(invoice.total),
    }


def render_invoice(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, sort_keys=True) + "\n"
    if fmt == "csv":
        columns = ["project_id", "kind", "item", "quantity", "unit", "rate", "amount"]
        total = {"project_id": "", "kind": "total", "item": "", "amount": document["total"]}
        return _csv(columns, [*document["lines"], total])
    return _invoice_table(document)


def _invoice_table(document: dict[str, Any]) -> str:
    currency = document["currency"]
    out = [f"invoice from {document['start']} to {document['stop']} in {currency}"]
    totals = {p["project_id"]: p["total"] for p in document["projects"]}
    shown = None
    for line in document["lines"]:
        if line["project_id"] != shown:
            if shown is not None:
                out.append(f"  {'total':<58} {totals[shown]:>16}")
            shown = line["project_id"]
            out.append(f"\nproject {shown or '(none)'}")
        out.append(
            f"  {line['kind']:<8} {line['item'][:30]:<30} {line['quantity']:>14} {line['unit']:<9}"
            f" x {line['rate']:>10} = {line['amount']:>12}"
        )
    if shown is not None:
        out.append(f"  {'total':<58} {totals[shown]:>16}")
    else:
        out.append("no lines")
    out.append(f"\ntotal {document['total']} {currency}")
    return "\n".join(out) + "\n"
