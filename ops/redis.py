"""A private redis-server on 127.0.0.1, run as a child process in its own directory."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class PrivateRedis:
    """One redis-server without persistence; its log is ``root/redis.log``."""

    name = "redis"

    def __init__(self, root: Path, port: int) -> None:
        self.root = Path(root).resolve()
        self.port = port
        self.log_file = self.root / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """PID of the running server, if this object started one."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def exited(self) -> bool:
        """Whether the server this object started has exited since (it is reaped)."""
        return self._process is not None and self._process.poll() is not None

    def url(self) -> str:
        """A redis-py URL for database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers as the process we started."""
        if self.pid is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.root),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        # The log goes to stdout (redis' default), which we send to the file, so
        # errors printed before redis opens its log are kept too.
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_ready(self._process)

    def stop(self) -> None:
        """SIGTERM the server started here and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        # No retries and short timeouts: this loop is the retry, and it must
        # notice soon when the child has exited.
        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                try:
                    # Compare PIDs: a PONG from another server already on this
                    # port must not count as ours being up.
                    if client.info("server")["process_id"] == process.pid:
                        return
                except redis.RedisError:
                    pass
                time.sleep(0.01)
        finally:
            client.close()
        code = process.poll()
        why = f"exited with code {code}" if code is not None else "did not answer"
        self.stop()
        tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(
            f"redis-server on 127.0.0.1:{self.port} {why} (waited up to "
            f"{START_TIMEOUT_S:.0f} s); last lines of {self.log_file}:\n{tail}"
        )
