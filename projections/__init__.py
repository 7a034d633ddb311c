"""Read models: tables derived from the ledger, rebuildable from position 0."""
