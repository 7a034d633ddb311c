"""Command dataclasses and handlers; the only place aggregates are saved."""
