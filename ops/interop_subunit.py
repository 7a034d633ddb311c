"""Read a subunit v2 stream on stdin; print one JSON line per test: its id,
status and reason. Run by the tempest venv's python (it has subunit and
testtools), so it imports nothing of the project."""

from __future__ import annotations

import json
import sys
from typing import Any

import subunit  # type: ignore[import-not-found]
import testtools  # type: ignore[import-not-found]

MAX_REASON = 20000


def _reason(details: dict[str, Any]) -> str:
    for key in ("reason", "traceback"):
        if key in details:
            text: str = details[key].as_text()
            return text[-MAX_REASON:]
    return ""


def _emit(test: dict[str, Any]) -> None:
    if not test["id"]:  # output outside any test
        return
    record = {"id": test["id"], "status": test["status"], "reason": _reason(test["details"])}
    print(json.dumps(record))


def main() -> int:
    stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
    result = testtools.StreamToDict(_emit)
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()
    return 0


if __name__ == "__main__":
    sys.exit(main())
