"""The checks of ``kitekit doctor`` that read only this machine: credentials, config files, folders, caches.

None of them writes anything or calls Kite: a damaged file is reported with its fix, never repaired here
(kitekit repairs it by itself on its next use, and the fix says so).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from kitekit.clock import IST
from kitekit.config import ENV_VARS, Settings
from kitekit.doctor.findings import Finding
from kitekit.errors import InstrumentCacheError
from kitekit.files import git_exposure

__all__ = ["config_files", "credentials", "instruments_cache", "pacer_database", "private_dirs"]

#: How many offending paths a finding names before it says "and N more".
_SHOWN = 4
#: Folders with more entries than this are not walked to the end (a candle store holds a few files, not this).
_WALK_LIMIT = 20_000


def credentials(settings: Settings, config_path: Path) -> Finding:
    """Say which credentials were found and where, or how to provide the missing ones.

    Args:
        settings: the settings as loaded (``load_settings``), api_key possibly missing.
        config_path: where a new config file would go (named in the fix).
    """
    example = '{"api_key": "...", "api_secret": "..."}'
    if not settings.api_key:
        return Finding.fail(
            "credentials",
            "no api_key in the environment, a .env file or a config file",
            f"set KITE_API_KEY and KITE_API_SECRET, or write {example} to {config_path}; "
            "or add --sim to try everything on the built-in simulator",
        )
    found = f"api_key {settings.api_key} from {settings.source_of('api_key')}"
    if not settings.api_secret:
        where = settings.config_file or config_path
        return Finding.fail(
            "credentials",
            f"{found}, but no api_secret (a login needs it)",
            f'set {ENV_VARS["api_secret"]}, or add "api_secret" to {where}',
        )
    detail = f"{found}; api_secret from {settings.source_of('api_secret')}"
    totp = ("user_id", "password", "totp_secret")
    given = [name for name in totp if getattr(settings, name)]
    if len(given) == len(totp):
        detail += "; unattended login (--totp) configured"
    elif given:
        missing = ", ".join(ENV_VARS[name] for name in totp if name not in given)
        return Finding.warn(
            "credentials",
            f"{detail}; unattended login half configured",
            f"set {missing} too for `kitekit login --totp`, or remove the others",
        )
    return Finding.ok("credentials", detail)


def config_files(files: Sequence[Path], looked_in: Sequence[Path]) -> Finding:
    """Check that files holding credentials are out of git and readable by their owner only.

    Args:
        files: the config file and ``.env`` file in use (those that exist).
        looked_in: where a config file was looked for, to say so when there is none.
    """
    if not files:
        where = ", ".join(str(p) for p in looked_in)
        return Finding.ok("config file", f"none (looked for {where}); credentials come from the environment")
    problems: list[str] = []
    fixes: list[str] = []
    for path in files:
        exposed = git_exposure(path)
        if exposed is not None and exposed.committed:
            problems.append(f"{path} is committed to the git repository {exposed.root}")
            fixes.append(
                f"`git -C {exposed.root} rm --cached {exposed.line.lstrip('/')}`, add the line {exposed.line} to "
                f"{exposed.root / '.gitignore'}, and change the credentials it held: they are in the history"
            )
        elif exposed is not None:
            problems.append(f"{path} is in the git work tree {exposed.root} and not ignored")
            fixes.append(f"add the line {exposed.line} to {exposed.root / '.gitignore'}")
        mode = _mode(path)
        if mode is not None and mode & 0o077:
            problems.append(f"{path} is readable by other users ({mode:04o})")
            fixes.append(f"`chmod 600 {path}`")
    if problems:
        return Finding.fail("config file", "; ".join(problems), "; ".join(fixes))
    shown = ", ".join(str(p) for p in files)
    return Finding.ok("config file", f"{shown}: not in git, readable by you only")


def _mode(path: Path) -> int | None:
    if os.name != "posix":
        return None  # Windows keeps access in ACLs, not mode bits
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def private_dirs(folders: Sequence[Path]) -> Finding:
    """Check that kitekit's folders, and everything in them, belong to this user and no one else can read them.

    Sessions hold access tokens; the pacer, ledgers and journals show what was traded.
    """
    if os.name != "posix":
        return Finding.ok("data folders", "not checked on Windows (access is kept in ACLs there)")
    present = [f for f in dict.fromkeys(folders) if f.is_dir()]
    if not present:
        return Finding.ok("data folders", "none yet (created private, 0700, on first use)")
    uid = os.getuid()
    open_to_others: list[str] = []
    foreign: list[str] = []
    count = 0
    for folder in present:
        for path, info in _walk(folder):
            count += 1
            mode = stat.S_IMODE(info.st_mode)
            if info.st_uid != uid:
                foreign.append(str(path))
            elif mode & 0o077:
                open_to_others.append(f"{path} ({mode:04o})")
    problems, fixes = [], []
    if open_to_others:
        problems.append(f"readable by other users: {_some(open_to_others)}")
        fixes.append("; ".join(f"`chmod -R go-rwx {f}`" for f in present))
    if foreign:
        problems.append(f"owned by another user: {_some(foreign)}")
        fixes.append("give them back to yourself (`sudo chown -R $USER …`) or remove them")
    if problems:
        return Finding.fail("data folders", "; ".join(problems), "; ".join(fixes))
    names = ", ".join(str(f) for f in present)
    return Finding.ok("data folders", f"{names}: {count} entries, all yours alone (folders 0700, files 0600)")


def _walk(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Yield ``folder`` and what is under it with its stat, symlinks not followed, up to :data:`_WALK_LIMIT`."""
    stack = [folder]
    seen = 0
    while stack and seen < _WALK_LIMIT:
        current = stack.pop()
        try:
            info = current.lstat()
        except OSError:
            continue
        seen += 1
        yield current, info
        if stat.S_ISDIR(info.st_mode):
            try:
                stack.extend(sorted(current.iterdir(), reverse=True))
            except OSError:
                continue


def _some(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown if len(items) <= _SHOWN else f"{shown} and {len(items) - _SHOWN} more"


def pacer_database(path: Path) -> Finding:
    """Check the pacing database every kitekit process shares: readable, intact, with its table."""
    if not path.exists():
        return Finding.ok("pacer", f"{path} not created yet (made on the first Kite call)")
    fix = f"kitekit replaces it with a fresh one on its next Kite call; to do it now, `rm {path}`"
    if not path.is_file():
        return Finding.fail("pacer", f"{path} is not a file", f"remove it: `rm -r {path}`")
    try:
        # A plain connection, as the pacer's: only reads are made, and SQLite creates nothing for them.
        con = sqlite3.connect(str(path), timeout=2.0)
        try:
            verdict = con.execute("PRAGMA quick_check").fetchone()
            rows = con.execute("SELECT api_key, cls, tat, seen FROM buckets").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            return Finding.warn(
                "pacer",
                f"{path} stayed locked for over 2 s ({exc})",
                "look for a stuck kitekit process (`ps aux | grep kitekit`) and end it",
            )
        return Finding.fail("pacer", f"{path} is damaged ({exc})", fix)
    except sqlite3.DatabaseError as exc:
        return Finding.fail("pacer", f"{path} is damaged ({exc})", fix)
    if verdict is None or verdict[0] != "ok":
        return Finding.fail("pacer", f"{path} fails SQLite's check ({verdict[0] if verdict else 'no answer'})", fix)
    if any(not isinstance(tat, float | int) or not isinstance(seen, float | int) for _, _, tat, seen in rows):
        return Finding.fail("pacer", f"{path} holds rows of the wrong type", fix)
    buckets = f"{len(rows)} rate-limit bucket{'s' if len(rows) != 1 else ''}"
    return Finding.ok("pacer", f"{path}: intact, {buckets}")


def instruments_cache(folder: Path, now: datetime, sync_command: str) -> Finding:
    """Check that the instruments dump current at ``now`` is cached and intact.

    Args:
        folder: the instrument store's cache folder.
        now: the time of the run's one clock (a simulator's market time on a simulator).
        sync_command: the command that downloads it (``kitekit --sim instruments sync``).
    """
    from kitekit.instruments import cache
    from kitekit.instruments.store import InstrumentStore

    store = InstrumentStore(folder, None)
    day = store.dump_day(now)
    days = store.cached_days()
    stamp = f"{now.astimezone(IST):%Y-%m-%d %H:%M} IST"
    if day not in days:
        older = f"; the newest cached is of {days[0]}" if days else ""
        detail = f"the dump current at {stamp} (of {day}) is not downloaded{older}"
        return Finding.warn("instruments", detail, f"`{sync_command}` (or let the first lookup download it)")
    path = cache.day_path(folder, day)
    try:
        opened = cache.open_day(path, day)
        opened.read_csv()
    except (InstrumentCacheError, OSError) as exc:
        return Finding.fail(
            "instruments",
            f"the cached dump of {day} is damaged ({exc})",
            f"`{sync_command}` downloads it again (a lookup would too, after removing the damaged file)",
        )
    fetched = opened.header.get("fetched_at", "")
    when = f", downloaded {datetime.fromisoformat(fetched).astimezone(IST):%Y-%m-%d %H:%M} IST" if fetched else ""
    return Finding.ok("instruments", f"the dump of {day} is cached and intact: {len(opened.index):,} instruments{when}")
