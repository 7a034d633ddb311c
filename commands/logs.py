"""Log lines of every cloudledger process: one JSON object per line on stderr
(or plain text, for people at a terminal), each carrying the process's role
and the ids of the requests it is working for.

The request ids live in a context variable: the API sets it for each request
(api/request_id.py), a worker for each job, from the job's meta (the relay
puts there the ids of the events that owe it). Any line logged meanwhile, by
our code or a library's, carries them."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

import orjson

LOG_FORMATS = ("json", "text")

# The requests a line is logged for: one in the API, one or more in a batch job.
REQUEST_IDS: ContextVar[tuple[str, ...]] = ContextVar("cloudledger_request_ids", default=())

# Attributes every LogRecord has; anything else was passed in ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


@contextlib.contextmanager
def request_context(request_ids: Iterable[str]) -> Iterator[None]:
    """Lines logged inside carry these request ids."""
    token = REQUEST_IDS.set(tuple(dict.fromkeys(r for r in request_ids if r)))
    try:
        yield
    finally:
        REQUEST_IDS.reset(token)


def sole_request_id() -> str | None:
    """The request this code works for, if it is exactly one: a worker passes
    it on when it calls the API for that request (an image download)."""
    ids = REQUEST_IDS.get()
    return ids[0] if len(ids) == 1 else None


class RequestIdFilter(logging.Filter):
    """Puts the process role and the current request ids on each record."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = self.role
        if not hasattr(record, "request_ids"):
            record.request_ids = REQUEST_IDS.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, role, and
    ``request_id`` (one request) or ``request_ids`` (a batch of several)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "role": getattr(record, "role", ""),
        }
        ids: tuple[str, ...] = getattr(record, "request_ids", ())
        if len(ids) == 1:
            line["request_id"] = ids[0]
        elif ids:
            line["request_ids"] = list(ids)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in ("role", "request_ids"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time level role logger: message [request ids]``, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        ids: tuple[str, ...] = getattr(record, "request_ids", ())
        suffix = f" [{' '.join(ids)}]" if ids else ""
        text = (
            f"{_utc(record.created)} {record.levelname} {getattr(record, 'role', '')} "
            f"{record.name}: {record.getMessage()}{suffix}"
        )
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(role: str, log_format: str = "json", level: str = "INFO") -> None:
    """Send every logger's lines to stderr in ``log_format``; replaces any
    handler the root logger had, so calling it twice is harmless."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter(role))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # No line shows the thread or process names: do not look them up for each
    # record (the API logs every request; see the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # nor the caller's file and line, a walk up the stack
    # A line per HTTP call a worker or a benchmark makes would drown the rest;
    # the API logs each request it answers anyway.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"
