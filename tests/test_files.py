"""Writing kitekit's files: atomic, durable, private under any umask, refusing to replace what is not a file."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from kitekit.cli import run
from kitekit.files import atomic_write, ensure_dir, private_file, warn_if_tracked
from kitekit.sim.server import SimServer
from tests.conftest import empty_cli_home


def test_a_write_replaces_the_file_whole_with_the_mode_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    atomic_write(path, b"old")
    atomic_write(path, b"new", mode=0o644)
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_folders_and_files_stay_private_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        atomic_write(tmp_path / "a" / "b" / "secret.json", b"{}")
        private_file(tmp_path / "c" / "db.sqlite3")
    finally:
        os.umask(old)
    for folder in ("a", "a/b", "c"):
        assert (tmp_path / folder).stat().st_mode & 0o777 == 0o700, folder
    assert (tmp_path / "a" / "b" / "secret.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "c" / "db.sqlite3").stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f"
    atomic_write(path, b"old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", full)
        with pytest.raises(OSError, match="No space"):
            atomic_write(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_directory_or_a_device_in_the_way_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path / "d", b"x")
    with pytest.raises(OSError, match="not a regular file"):
        atomic_write(Path("/dev/null"), b"x")
    assert Path("/dev/null").is_char_device()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError):
        atomic_write(tmp_path / "afile" / "inner", b"x")


def _race(target: Path, threads: int = 8) -> list[BaseException]:
    """Have ``threads`` threads create ``target`` at the same moment; return what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def make() -> None:
        barrier.wait()
        try:
            ensure_dir(target)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=make) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    return errors


def test_many_threads_creating_the_same_private_folders_at_once_never_fail(tmp_path: Path) -> None:
    for round_ in range(20):
        target = tmp_path / f"r{round_}" / "a" / "b" / "c"
        assert _race(target) == [] and target.is_dir()


def test_a_name_near_the_length_limit_is_written(tmp_path: Path) -> None:
    path = tmp_path / ("t" * 250)  # legal; a temporary ".<name>.<random>.tmp" beside it would not be
    atomic_write(path, b"x")
    assert path.read_bytes() == b"x" and [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no file can be created")
def test_a_folder_that_takes_no_new_file_is_reported_about_the_file_asked_for() -> None:
    target = Path("/proc/kitekit-chart.html")
    with pytest.raises(OSError) as raised:
        atomic_write(target, b"x")
    assert raised.value.filename == str(target) and raised.value.errno is not None


def test_every_file_the_commands_make_is_private_even_under_umask_000(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_sim: SimServer
) -> None:
    home = empty_cli_home(tmp_path, monkeypatch, columns=200)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    commands = [
        ["monitor", "NIFTY 50", "--count", "1", "--csv", "readings.csv"],
        ["order", "buy", "INFY", "1"],  # the paper ledger and its lock
        ["tokens", "export", "NSE:INFY", "-o", "tokens.json"],
        ["chart", "RELIANCE", "--days", "30", "--no-open", "--out", "chart.html"],
        ["history", "RELIANCE", "--days", "30", "--out", "candles.csv"],
        ["record", "RELIANCE", "--out", "rec", "--count", "1"],
    ]
    old = os.umask(0)
    try:
        for argv in commands:
            assert run(argv) == 0, argv
    finally:
        os.umask(old)
    made = {p.relative_to(home): p.stat().st_mode & 0o777 for p in home.rglob("*")}
    assert Path("readings.csv") in made and Path("tokens.json") in made and Path("chart.html") in made
    assert any(p.name.endswith(".kkdump") for p in made) and any(p.name.startswith(".ledger-") for p in made)
    loose = {str(p): oct(mode) for p, mode in made.items() if mode != (0o700 if (home / p).is_dir() else 0o600)}
    assert loose == {}


def write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_config_inside_a_git_tree_warns_once_with_the_ignore_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # git exports GIT_DIR to hooks and `git rebase --exec`: inherited, it would point these git calls at the
    # outer repository, and `git init` would write core.worktree into that repository's shared config.
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    config = write(repo / "conf" / "config.json")
    with caplog.at_level(logging.WARNING, logger="kitekit.files"):
        assert warn_if_tracked(config) is True
        assert warn_if_tracked(config) is False  # once
    assert "Add this line to" in caplog.text and "/conf/config.json" in caplog.text
    ignored = write(repo / "other.json")
    (repo / ".gitignore").write_text("/other.json\n")
    assert warn_if_tracked(ignored) is False
    assert warn_if_tracked(tmp_path / "outside.json") is False
