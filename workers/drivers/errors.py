"""Errors raised by compute-host drivers, split by whether a retry can help."""


class DriverError(Exception):
    """Base class for every failure a driver reports to its caller."""


class TransientDriverError(DriverError):
    """A failure that retrying the same call later may fix (lost connection, race)."""


class PermanentDriverError(DriverError):
    """A failure that retrying will not fix (bad configuration, missing file)."""
