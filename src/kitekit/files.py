"""Writing kitekit's files safely: atomically, durably, and private to the user whatever the umask.

Every file kitekit writes goes through :func:`atomic_write` (a reader sees the old file or the new one,
never half of either, and a crash leaves no partial file), and every folder it creates through
:func:`ensure_dir` (mode 0700: sessions, caches and pacing state are the user's alone, even under
``umask 000``). A file holding credentials that would land in a git commit is pointed out once
(:func:`warn_if_tracked`; :func:`git_exposure` says how it is exposed).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GitExposure",
    "atomic_write",
    "ensure_dir",
    "git_exposure",
    "private_file",
    "warn_if_tracked",
    "writable_dir",
]

log = logging.getLogger("kitekit.files")


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with permissions ``mode`` (0600 by default).

    The temporary file is created in the same directory (so ``os.replace`` is a rename on one file
    system), gets its mode before any byte is written (a secret is never world-readable, even briefly),
    and is fsynced before the rename.
    """
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a directory is in the way of the file", str(path))
    if path.exists() and not path.is_file():
        # Replacing /dev/full or a FIFO with a regular file would be a surprise, and as root it would succeed.
        raise OSError(errno.EINVAL, "not a regular file, refusing to replace it", str(path))
    ensure_dir(path.parent)
    # The prefix is cut so that a target name near the 255-byte limit still leaves room for the suffixes.
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".tmp")
    except OSError as exc:
        raise _about(exc, path) from exc
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename == tmp:
            raise _about(exc, path) from exc
        raise
    _fsync_dir(path.parent)


def _about(exc: OSError, path: Path) -> OSError:
    """Return ``exc`` as the same kind of error about ``path``: the user's file, not the temporary one."""
    return OSError(exc.errno, exc.strerror, str(path))


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Create ``path`` and any missing parents with ``mode`` (0700 by default); return it.

    ``Path.mkdir(parents=True, mode=…)`` gives the mode to the last folder only and ``0777 & ~umask`` to the
    parents it creates, which under ``umask 000`` is world-writable; here every folder created gets ``mode``.

    Raises:
        NotADirectoryError: a file stands where a folder belongs.
        PermissionError: a parent cannot be written.
    """
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        if probe.exists() and not probe.is_dir():  # is_dir again: another process may have just made it
            raise NotADirectoryError(errno.ENOTDIR, "a file is where a folder belongs", str(probe))
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(mode=mode)
    return path


def private_file(path: Path, mode: int = 0o600) -> Path:
    """Create ``path`` empty with ``mode`` unless it exists (before a library such as SQLite opens it); return it."""
    ensure_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    return path


def writable_dir(path: Path) -> Path:
    """Create ``path`` like :func:`ensure_dir`, then create and remove a file in it; return it.

    A folder that exists but cannot be written (read-only, another user's, a read-only mount) fails here,
    before a long job that would write into it starts, instead of at its first write.

    Raises:
        PermissionError: the folder (or a parent to create) cannot be written.
        NotADirectoryError: a file stands where a folder belongs.
        OSError: the disk is full, or the file system refuses new files.
    """
    ensure_dir(path)
    fd, name = tempfile.mkstemp(dir=path, prefix=".kitekit-probe-")
    os.close(fd)
    os.unlink(name)
    return path


@dataclass(frozen=True)
class GitExposure:
    """A file that a ``git add -A`` in its work tree would put into a commit."""

    #: The work tree the file sits in.
    root: Path
    #: The line that keeps it out, for the work tree's ``.gitignore``.
    line: str
    #: Already in a commit (ignoring it now no longer removes it from the history).
    committed: bool


def _git(root: Path, *args: str) -> int | None:
    """Return git's exit status for ``git -C root args``, or None when git cannot be run."""
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.returncode


def git_exposure(path: Path) -> GitExposure | None:
    """Return how ``path`` is exposed to git, or None when it is ignored, outside a work tree, or git is missing."""
    path = path.resolve()
    root = next((p for p in path.parents if (p / ".git").exists()), None)
    if root is None:
        return None
    if _git(root, "check-ignore", "-q", str(path)) != 1:  # 0 = ignored, 128 = not a repository / git error
        return None
    committed = _git(root, "ls-files", "--error-unmatch", str(path)) == 0
    return GitExposure(root, "/" + path.relative_to(root).as_posix(), committed)


_warned: set[Path] = set()


def warn_if_tracked(path: Path) -> bool:
    """Warn once if ``path`` sits in a git work tree and is not ignored; return True if it warned.

    The warning names the exact line to add to ``.gitignore``, because a committed api_secret or
    access_token is the commonest way Kite credentials leak.
    """
    path = path.resolve()
    if path in _warned:
        return False
    exposed = git_exposure(path)
    if exposed is None:
        return False
    _warned.add(path)
    log.warning(
        "%s holds Kite credentials and is inside the git work tree %s but not ignored. Add this line to %s: %s",
        path,
        exposed.root,
        exposed.root / ".gitignore",
        exposed.line,
    )
    return True
