"""One module per resource: its command side (commands/declarations.py),
found by commands/app.py (domain/discovery.py)."""
