"""Output paths are checked before anything is fetched, and a folder that cannot be written is a file error (4)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kitekit.cli import run
from kitekit.sim.server import SimServer
from kitekit.ticker import TickRecorder
from tests.conftest import empty_cli_home

FILES = 4


@pytest.fixture
def on_sim(cli_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    empty_cli_home(tmp_path, monkeypatch, columns=250)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    return cli_sim


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder nothing can be created in: mode 0555, and for root (whom modes do not stop) os.open and os.mkdir
    refusing to create anything in it, as the kernel would refuse anyone else."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real_open, real_mkdir = os.open, os.mkdir

        def refused(path: str | os.PathLike[str]) -> PermissionError:
            return PermissionError(errno.EACCES, "Permission denied", str(path))

        def open_(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
            if flags & os.O_CREAT and Path(path).parent == folder:
                raise refused(path)
            return real_open(path, flags, *args, **kwargs)

        def mkdir(path: str | os.PathLike[str], *args: int, **kwargs: int) -> None:
            if Path(path).parent == folder:
                raise refused(path)
            real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", open_)
        monkeypatch.setattr(os, "mkdir", mkdir)
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize(
    ("argv", "fetch"),
    [
        (["record", "NIFTY 50", "--out", "{locked}", "--count", "1"], "POST /api/login"),
        (["record", "NIFTY 50", "--out", "{locked}/ticks", "--count", "1"], "POST /api/login"),
        (["monitor", "NIFTY 50", "--count", "1", "--csv", "{locked}/readings.csv"], "POST /api/login"),
        (["tokens", "export", "-o", "{locked}/tokens.json"], "GET /instruments"),
        (["history", "RELIANCE", "--from", "2026-11-20", "--out", "{locked}/c.csv"], "GET /instruments"),
        (["chart", "RELIANCE", "--from", "2026-11-20", "--out", "{locked}/c.html", "--no-open"], "GET /instruments"),
    ],
    ids=["record", "record into a new folder", "monitor --csv", "tokens export", "history --out", "chart --out"],
)
def test_a_folder_that_cannot_be_written_is_a_file_error_before_anything_is_fetched(
    on_sim: SimServer, read_only: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fetch: str
) -> None:
    code = run([arg.format(locked=read_only) for arg in argv])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert code == FILES, text
    assert "File error: no permission to write" in text and str(read_only) in text
    assert "faster disk" not in text and "Traceback" not in text
    assert not on_sim.sim.requests.get(fetch), on_sim.sim.requests  # refused before logging in or downloading


def test_a_recorder_keeps_the_error_its_writes_failed_with(tmp_path: Path) -> None:
    def refused(folder: Path, table: object, name: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(folder / name))

    recorder = TickRecorder(tmp_path / "rec", flush_every=0.01, writer=refused).start()
    frame = bytes([0, 1, 0, 8]) + (256265).to_bytes(4, "big") + (2500000).to_bytes(4, "big")
    assert recorder.add(frame, 1)
    stats = recorder.close()
    assert stats.write_errors == 1 and stats.dropped_ticks == 1
    assert isinstance(recorder.last_error, PermissionError)
