"""One module per resource: its read models (projections/declarations.py),
found by projections/registry.py (domain/discovery.py)."""
