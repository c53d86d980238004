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


def _bulk_length(reply: bytes) -> int:
    """Return the bytes a complete RESP bulk-string reply takes (header included), once its header is in."""
    header, _, _ = reply.partition(b"\r\n")
    if not header.startswith(b"$"):
        return len(reply)  # an error or other reply: complete as it is
    return len(header) + 2 + int(header[1:]) + 2


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
        # A port picked here may be taken by another process before the server binds it (parallel test
        # workers each pick one): then start() picks another. A port given by the caller is kept.
        self._picked = not port
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
        deadline = time.monotonic() + timeout
        for _ in range(5 if self._picked else 1):
            if self._start_once(deadline):
                return self
            if not self._picked or time.monotonic() >= deadline:
                break
            self.port = _free_port()
        log = self.folder / "redis.log"
        tail = log.read_text(errors="replace")[-800:] if log.exists() else "(no log)"
        raise BusUnavailableError(f"redis-server did not start on 127.0.0.1:{self.port}: {tail.strip()}")

    def _start_once(self, deadline: float) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.folder),
            "--save", "",  # no RDB snapshots
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.folder / "redis.log"),
            "--protected-mode", "yes",
        ]  # fmt: skip
        try:
            self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # noqa: S603
        except OSError as exc:
            raise BusUnavailableError(f"{self.binary} could not be started ({exc}); {REDIS_MISSING}") from exc
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break  # most often: the port was taken
            if self._answers():
                return True
            time.sleep(0.02)
        self.stop()
        return False

    def _answers(self) -> bool:
        """Return True when the server on the port answers and is this object's process.

        Another server that holds the port (a parallel test's) answers too: its process id tells them apart.
        """
        process = self._process
        if process is None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"INFO server\r\n")
                reply = b""
                while b"\r\n" not in reply or len(reply) < _bulk_length(reply):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return False
                    reply += chunk
        except OSError:
            return False
        return f"process_id:{process.pid}\r\n".encode() in reply

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
