"""What a server's fault tells whom, as Nova splits it: a short ``message``
for the server's owner, and ``details`` (the host's error: its paths,
command lines, host names) for admins and the host's log only."""

from __future__ import annotations

MAX_MESSAGE = 255  # Nova's instance_faults.message column
MAX_DETAILS = 8192  # an error's text, not a log: enough for any command's stderr
# Told to the owner of a guest whose domain its host lost (the host is in the details).
GONE_FROM_HOST = "The server's guest is gone from its host"
_LEGACY_GONE = "the guest's domain vanished from host "


def bounded(message: str, details: str) -> tuple[str, str]:
    """``message`` and ``details`` cut to what a fault keeps."""
    return message[:MAX_MESSAGE], details[:MAX_DETAILS]


def legacy_fault(message: str) -> tuple[str, str]:
    """(message, details) of a fault recorded before faults had details,
    whose one message may name the host's paths and commands. Every such
    message had one of these shapes: "<step> failed: <the host's error>",
    "<step> failed after retries", "<step> failed unexpectedly", Nova's
    "No valid host was found. ...", and "the guest's domain vanished from
    host <host>". The owner is shown the part before the host's error."""
    head, sep, _ = message.partition(": ")
    if sep:
        return head, message
    if message.startswith(_LEGACY_GONE):
        return GONE_FROM_HOST, message
    return message, ""
