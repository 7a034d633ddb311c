"""The words a resource declares its read models in (projections/resources/)."""

from __future__ import annotations

from dataclasses import dataclass

from projections.view import ProjectionView


@dataclass(frozen=True)
class ProjectionResource:
    """One resource's read models: the projector keeps each up to date, the
    API's writes wait for them (read-your-writes), `projections rebuild`
    and `verify` know them. ``name`` is the resource's, as in its domain
    declaration, whose events these views show."""

    name: str
    views: tuple[type[ProjectionView], ...]
