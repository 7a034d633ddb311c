"""A private PostgreSQL 15 cluster in a directory of its own, run as user postgres."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import errors, sql
from psycopg.rows import TupleRow

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
START_TIMEOUT_S = 30


class PrivateCluster:
    """One cluster under ``root``: ``data/``, ``socket/`` and ``postgres.log``.

    TCP on 127.0.0.1 only; role ``postgres`` with trust auth, so it is for local
    development and tests, never for a shared host.
    """

    name = "postgres"

    def __init__(self, root: Path, port: int, *, fast: bool = False) -> None:
        # Absolute: the server and pg_ctl run with another working directory.
        self.root = Path(root).resolve()
        self.port = port
        self.fast = fast
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_file = self.root / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------

    def ensure_initialized(self) -> None:
        """Run initdb once; an existing cluster is kept as it is."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        # initdb into a scratch dir and rename on success: a killed initdb then
        # never leaves a half-made cluster that looks initialized.
        scratch = self.root / "data.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        self._private_dir(scratch)
        cmd = [
            str(PG_BIN / "initdb"),
            "-D",
            str(scratch),
            "-U",
            PG_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        if self.fast:
            cmd.append("--no-sync")
        result = self._as_postgres(cmd, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed in {scratch}:\n{result.stderr}")
        scratch.rename(self.data_dir)

    def start(self) -> None:
        """Start the server (initializing first) and wait until it accepts.

        A server already running in this data dir on this port is reused as is.
        """
        self.ensure_initialized()
        if self.is_running():
            running_port = self._pid_file_line(3)
            if running_port != str(self.port):
                raise RuntimeError(
                    f"a server already runs in {self.data_dir} on port "
                    f"{running_port}, not {self.port}"
                )
            return
        self._private_dir(self.socket_dir)
        self._clear_stale_locks()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": "200",
        }
        if self.fast:
            # Throw-away test clusters: durability costs time and buys nothing.
            settings |= {
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
        cmd = [str(PG_BIN / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        # Our own child rather than a pg_ctl daemon: we see at once if it dies
        # and reap it on stop (PID 1 here reaps orphans only seconds later),
        # and start takes ~40 ms instead of pg_ctl's 100 ms polling steps.
        user = pwd.getpwnam(PG_USER)
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                cmd,
                user=user.pw_uid,
                group=user.pw_gid,
                extra_groups=[],
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready(self._process)

    def stop(self) -> None:
        """Stop the server (fast mode: open sessions are rolled back)."""
        if not self.is_running():
            self._reap()
            return
        cmd = [str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data_dir)]
        cmd += ["-m", "fast", "-w", "-t", str(START_TIMEOUT_S), "-s"]
        result = self._as_postgres(cmd, timeout=START_TIMEOUT_S + 10)
        if result.returncode != 0:
            raise RuntimeError(
                f"pg_ctl stop failed for {self.data_dir}: {result.stderr.strip()}\n"
                f"{self._log_tail()}"
            )
        self._reap()

    def exited(self) -> bool:
        """Whether the server this object started has exited since (it is reaped)."""
        return self._process is not None and self._process.poll() is not None

    def is_running(self) -> bool:
        """Whether the postmaster named in postmaster.pid is alive and ours."""
        pid = self._pid_file_line(0)
        if pid is None or not pid.isdigit():
            return False
        try:
            # The postmaster chdirs into its data dir; a recycled PID does not.
            return Path(os.readlink(f"/proc/{pid}/cwd")) == self.data_dir
        except OSError:
            return False

    # -- databases ---------------------------------------------------------

    def url(self, dbname: str) -> str:
        """A libpq URL for ``dbname`` over TCP as role postgres."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def ensure_database(self, name: str) -> None:
        """Create ``name`` unless it exists."""
        with self._admin() as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if row is not None:
                return
            # Another process may create it between the check and here.
            with contextlib.suppress(errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def create_database(self, name: str, template: str | None = None) -> None:
        """Create ``name``, as a copy of ``template`` if given.

        The template must have no open connections (PostgreSQL waits up to 5 s
        for closing ones, then fails).
        """
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self._admin() as conn:
            conn.execute(query)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, ending any sessions still connected to it."""
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- helpers -----------------------------------------------------------

    def _admin(self) -> psycopg.Connection[TupleRow]:
        # CREATE/DROP DATABASE cannot run inside a transaction block.
        return psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10)

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            # The postmaster marks its pid file "ready" once it accepts
            # connections; pg_ctl -w waits on the same line.
            if self._pid_file_line(7) == "ready" and self.is_running():
                return
            time.sleep(0.01)
        code = process.poll()
        if code is None:
            process.kill()
            why = f"was not ready within {START_TIMEOUT_S} s"
        else:
            why = f"exited with code {code}"
        self._reap()
        raise RuntimeError(
            f"PostgreSQL in {self.data_dir} on 127.0.0.1:{self.port} {why}; "
            f"last lines of {self.log_file}:\n{self._log_tail()}"
        )

    def _reap(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.wait(timeout=START_TIMEOUT_S)

    def _as_postgres(self, cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        # initdb, pg_ctl and postgres refuse to run as root. cwd "/" because
        # postgres may not be allowed into the caller's working directory.
        return subprocess.run(
            ["runuser", "-u", PG_USER, "--", *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            check=False,
        )

    def _private_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._chown(path)
        path.chmod(0o700)  # the server refuses a group/world-readable data dir
        probe = self._as_postgres(["test", "-w", str(path)], timeout=10)
        if probe.returncode != 0:
            raise RuntimeError(
                f"user {PG_USER} cannot reach {path}: every directory above it "
                "must be searchable by others (chmod o+x)"
            )

    @staticmethod
    def _chown(path: Path) -> None:
        user = pwd.getpwnam(PG_USER)
        os.chown(path, user.pw_uid, user.pw_gid)

    def _pid_file_line(self, index: int) -> str | None:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        return lines[index].strip() if len(lines) > index else None

    def _clear_stale_locks(self) -> None:
        # Left by a killed server. PostgreSQL would refuse to start if their PID
        # has since been reused by a live process, so remove them ourselves.
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        for leftover in self.socket_dir.glob(".s.PGSQL.*"):
            leftover.unlink(missing_ok=True)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"
