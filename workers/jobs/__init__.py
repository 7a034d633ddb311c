"""RQ job functions: string ids in, aggregate loaded, work done, outcome recorded."""
