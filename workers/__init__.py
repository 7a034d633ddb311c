"""Relay (event log -> RQ) and the jobs that drive the infrastructure."""
