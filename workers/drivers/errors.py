"""Errors raised by compute-host drivers, split by whether a retry can help."""


class DriverError(Exception):
    """Base class for every failure a driver reports to its caller."""


class TransientDriverError(DriverError):
    """A failure that retrying the same call later may fix (lost connection, race)."""


class PermanentDriverError(DriverError):
    """A failure that retrying will not fix (bad configuration, missing file)."""


class ShownToOwnerError(PermanentDriverError):
    """A permanent failure whose message names no host, path or command (an
    image the host refuses, and why): the server's owner is told it, as Nova
    tells a NovaException's message. Any other driver error's text goes only
    to the fault's details (admins) and the host's log; ``details`` go there too."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
