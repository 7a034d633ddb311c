"""The console log contract: the file one the workers use, and the
in-memory one job tests use, behave alike."""

from pathlib import Path

import pytest

from workers.drivers.console import ConsoleLog, FileConsole, MemoryConsole


@pytest.fixture(params=["file", "memory"])
def console(request: pytest.FixtureRequest, tmp_path: Path) -> ConsoleLog:
    return FileConsole(tmp_path / "console") if request.param == "file" else MemoryConsole()


def test_the_tail_is_the_newest_lines_in_order(console: ConsoleLog) -> None:
    for n in range(5):
        console.write("i1", f"line {n}")
    console.write("i2", "other")
    assert console.tail("i1", 2).splitlines()[-1].endswith("line 4")
    assert [line.split("] ", 1)[1] for line in console.tail("i1", 2).splitlines()] == [
        "line 3",
        "line 4",
    ]
    assert len(console.tail("i1", None).splitlines()) == 5
    assert len(console.tail("i1", 50).splitlines()) == 5
    assert console.tail("i1", 0) == ""


def test_an_unknown_or_removed_instance_has_an_empty_console(console: ConsoleLog) -> None:
    assert console.tail("nope", None) == ""
    console.write("i1", "x")
    console.remove("i1")
    console.remove("i1")
    assert console.tail("i1", None) == ""
