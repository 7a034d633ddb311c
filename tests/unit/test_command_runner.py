"""The command runner: real processes (no network), and the fake drivers' tests use."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.runner import MASK, CommandFailed, FakeRunner, Limits, SubprocessRunner

PY = sys.executable


def test_output_and_exit_code_come_back() -> None:
    done = SubprocessRunner().run([PY, "-c", "print('hi'); raise SystemExit(3)"], check=False)

    assert (done.returncode, done.stdout, done.ok) == (3, "hi\n", False)


def test_input_reaches_stdin() -> None:
    done = SubprocessRunner().run(
        [PY, "-c", "import sys; print(sys.stdin.read()[::-1])"], input="abc"
    )

    assert done.stdout == "cba\n"


def test_a_failure_names_the_command_and_stderr_with_secrets_masked() -> None:
    argv = [PY, "-c", "import sys; sys.stderr.write('bad s3cret'); raise SystemExit(1)", "s3cret"]

    with pytest.raises(CommandFailed) as caught:
        SubprocessRunner().run(argv, secrets=["s3cret"])

    assert "exited with 1" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert MASK in str(caught.value)
    assert caught.value.result.returncode == 1


def test_an_argument_is_never_a_shell_string() -> None:
    done = SubprocessRunner().run([PY, "-c", "import sys; print(sys.argv[1])", "$(id); rm -rf /"])

    assert done.stdout == "$(id); rm -rf /\n"


def test_a_command_that_outlives_its_timeout_is_killed_and_transient() -> None:
    with pytest.raises(TransientDriverError, match="did not finish"):
        SubprocessRunner().run([PY, "-c", "import time; time.sleep(30)"], timeout=0.5)


def test_a_missing_program_is_permanent() -> None:
    with pytest.raises(PermanentDriverError, match="cannot run"):
        SubprocessRunner().run(["/nonexistent/program"])


def test_cpu_limit_ends_a_busy_child() -> None:
    done = SubprocessRunner().run(
        [PY, "-c", "while True: pass"], check=False, timeout=20, limits=Limits(cpu_seconds=1)
    )

    assert done.returncode != 0  # SIGXCPU


def test_address_space_limit_refuses_a_large_allocation() -> None:
    done = SubprocessRunner().run(
        [PY, "-c", "b = bytearray(2 * 1024**3)"],
        check=False,
        limits=Limits(address_space_bytes=512 * 1024**2),
    )

    assert "MemoryError" in done.stderr


def test_netns_runs_inside_the_named_namespace() -> None:
    name = f"cl-runner-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        done = SubprocessRunner().run(["ip", "-o", "link", "show"], netns=name)
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)

    assert [line.split(":")[1].strip() for line in done.stdout.splitlines()] == ["lo"]


def test_fake_records_argv_and_answers_the_longest_prefix() -> None:
    fake = FakeRunner()
    fake.answer(["ip"], stdout="short")
    fake.answer(["ip", "-j", "link"], stdout="[]")

    assert fake.run(["ip", "-j", "link", "show"], netns="h1").stdout == "[]"
    assert fake.run(["ip", "addr"]).stdout == "short"
    assert fake.run(["true"]).ok
    assert fake.calls == [("ip", "-j", "link", "show"), ("ip", "addr"), ("true",)]
    assert fake.netns_of_calls == ["h1", None, None]
    assert fake.ran("ip") == fake.calls[:2]


def test_fake_fails_like_the_real_one() -> None:
    fake = FakeRunner()
    fake.answer(["tgtadm"], returncode=22, stderr="can't find the target pw1")

    with pytest.raises(CommandFailed, match="exited with 22") as caught:
        fake.run(["tgtadm", "--op", "delete"], secrets=["pw1"])
    assert "pw1" not in str(caught.value)
    assert not fake.run(["tgtadm"], check=False).ok

    fake.fail_next = TransientDriverError("boom")
    with pytest.raises(TransientDriverError):
        fake.run(["anything"])
    assert fake.run(["anything"]).ok


def test_fake_script_computes_answers() -> None:
    fake = FakeRunner(script=lambda argv: None if argv[0] != "echo" else _echo(argv))

    assert fake.run(["echo", "a", "b"]).stdout == "a b\n"
    assert fake.run(["other"]).stdout == ""


def _echo(argv: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from workers.drivers.runner import Completed

    return Completed(argv, 0, " ".join(argv[1:]) + "\n", "")
