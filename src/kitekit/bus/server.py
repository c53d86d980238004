"""A throwaway ``redis-server`` on 127.0.0.1 at a free port, in a folder of its own: for tests and benchmarks.

Production runs its own Redis (``docs/scale.md``); this starts Debian's ``redis-server`` binary with no
persistence at all (no RDB snapshot, no AOF), so nothing is written outside the folder it is given, and the
process is stopped (and waited for) on :meth:`RedisServer.stop`. It can also be stopped and started again on
the same port, which is how the tests take the server away from a running pacer or feed.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from kitekit.errors import BusUnavailableError

__all__ = ["REDIS_MISSING", "RedisServer"]

#: What to do when no ``redis-server`` binary is on PATH.
REDIS_MISSING = (
    "redis-server is not installed: on Debian or Ubuntu run `apt-get install -y redis-server` as root "
    "(./dev test and .ci/run do it themselves when run as root), or put a redis-server binary on PATH"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on loopback, owned by this object.

    Args:
        folder: its working directory (its log lives there; nothing is persisted).
        port: the port to bind; 0 picks a free one.
        binary: the server executable (default: ``redis-server`` on PATH).

    Raises:
        BusUnavailableError: no binary, or the server did not answer within its start timeout.
    """

    def __init__(self, folder: Path, port: int = 0, binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise BusUnavailableError(REDIS_MISSING)
        self.binary = found
        self.folder = folder
        self.port = port or _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the server's ``redis://`` URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Return True while the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and return once it answers PING.

        Raises:
            BusUnavailableError: it exited or did not answer within ``timeout`` seconds (its log is quoted).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.folder / "redis.log"
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.folder),
            "--save", "",  # no RDB snapshots
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(log),
            "--protected-mode", "yes",
        ]  # fmt: skip
        try:
            self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # noqa: S603
        except OSError as exc:
            raise BusUnavailableError(f"{self.binary} could not be started ({exc}); {REDIS_MISSING}") from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        tail = log.read_text(errors="replace")[-800:] if log.exists() else "(no log)"
        raise BusUnavailableError(f"redis-server did not start on 127.0.0.1:{self.port}: {tail.strip()}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and wait for it; idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would, and wait for it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5.0)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
