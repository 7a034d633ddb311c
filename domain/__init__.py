"""Aggregates, events, value objects and domain errors: pure code, no I/O."""
