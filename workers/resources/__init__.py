"""One module per resource: its worker side (workers/declarations.py), found
by workers/routes.py (domain/discovery.py)."""
