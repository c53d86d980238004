"""The instrument store: Kite's daily dump cached on disk, indexed, and looked up in microseconds.

The official SDK downloads and parses the whole dump (100k+ rows, seconds) on every ``instruments()`` call.
The store downloads it at most once per trading day, after the 08:30 IST regeneration, keeps it (and the
previous day's) on disk with a binary index that opens in milliseconds, and answers lookups by
``EXCHANGE:SYMBOL``, token, or the names traders type ("NIFTY 50", "BANKNIFTY", "RELIANCE").
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import numpy as np
import pandas as pd
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import IST, Clock, SystemClock
from kitekit.errors import AmbiguousInstrumentError, InstrumentCacheError, UnknownInstrumentError
from kitekit.files import atomic_write
from kitekit.markethours import TradingCalendar
from kitekit.wire.instruments_csv import HEADER, DumpIndex

__all__ = ["ALIASES", "Instrument", "InstrumentStore", "Progress", "fetch_dump"]

log = logging.getLogger("kitekit.instruments")

#: Called while downloading with (bytes so far, total bytes or None).
Progress = Callable[[int, int | None], None]
Fetcher = Callable[[str | None, Progress | None], bytes]

#: Names traders type for indices, and what Kite calls them.
ALIASES: dict[str, str] = {
    "NIFTY": "NSE:NIFTY 50",
    "NIFTY50": "NSE:NIFTY 50",
    "BANKNIFTY": "NSE:NIFTY BANK",
    "NIFTYBANK": "NSE:NIFTY BANK",
    "FINNIFTY": "NSE:NIFTY FIN SERVICE",
    "MIDCPNIFTY": "NSE:NIFTY MID SELECT",
    "NIFTYNXT50": "NSE:NIFTY NEXT 50",
    "INDIAVIX": "NSE:INDIA VIX",
    "VIX": "NSE:INDIA VIX",
    "SENSEX": "BSE:SENSEX",
    "BANKEX": "BSE:BANKEX",
}
#: Index names as displayed -> the ``name`` their futures and options carry.
FNO_NAMES: dict[str, str] = {
    "NIFTY 50": "NIFTY",
    "NIFTY BANK": "BANKNIFTY",
    "NIFTY FIN SERVICE": "FINNIFTY",
    "NIFTY MID SELECT": "MIDCPNIFTY",
    "NIFTY NEXT 50": "NIFTYNXT50",
}
#: Bare symbols resolve on the first exchange here that lists them.
PREFERENCE = ("NSE", "BSE", "NFO", "BFO", "MCX", "CDS", "BCD")
_FORMAT = 2
_T = TypeVar("_T")
_NUMERIC = ("last_price", "strike", "tick_size")


@dataclass(frozen=True)
class Instrument:
    """One row of the dump, with Kite's wire names and Python types."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    last_price: float
    expiry: date | None
    strike: float
    tick_size: float
    lot_size: int
    instrument_type: str
    segment: str
    exchange: str

    @property
    def key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL``, the key Kite's quote APIs take."""
        return f"{self.exchange}:{self.tradingsymbol}"


def _num(text: str, kind: type[float] | type[int]) -> Any:
    # The real dump writes 0.0 for empty numbers; older or hand-made ones leave cells empty.
    try:
        return kind(float(text)) if kind is int else kind(text)
    except ValueError:
        return kind(0)


def _record(fields: Sequence[str]) -> Instrument:
    f = list(fields) + [""] * (12 - len(fields))
    expiry = None
    if len(f[5]) == 10:
        try:
            expiry = date.fromisoformat(f[5])
        except ValueError:
            expiry = None
    return Instrument(
        instrument_token=_num(f[0], int),
        exchange_token=_num(f[1], int),
        tradingsymbol=f[2],
        name=f[3],
        last_price=_num(f[4], float),
        expiry=expiry,
        strike=_num(f[6], float),
        tick_size=_num(f[7], float),
        lot_size=_num(f[8], int),
        instrument_type=f[9],
        segment=f[10],
        exchange=f[11],
    )


def fetch_dump(kite: KiteConnect, exchange: str | None = None, progress: Progress | None = None) -> bytes:
    """Download the raw dump through the client's session (so its pacing and retries apply).

    Route: ``GET /instruments`` or ``GET /instruments/{exchange}``.

    The SDK's ``instruments()`` always parses the CSV into a list of dicts, the slow part we exist to
    avoid, so this one function asks for the bytes itself, with the headers the SDK would send.

    Raises:
        kiteconnect.exceptions.KiteException: Kite answered an error (the class the SDK would raise).
        requests.RequestException: the network failed.
    """
    path = f"/instruments/{exchange}" if exchange else "/instruments"
    headers = {"X-Kite-Version": "3", "User-Agent": kite._user_agent()}
    if kite.api_key and kite.access_token:
        headers["Authorization"] = f"token {kite.api_key}:{kite.access_token}"
    with kite.reqsession.get(urljoin(kite.root, path), headers=headers, stream=True, timeout=120) as r:
        kind = r.headers.get("content-type", "")
        if "json" in kind:
            body = r.json()
            if body.get("status") == "error" or body.get("error_type"):
                if kite.session_expiry_hook and r.status_code == 403 and body.get("error_type") == "TokenException":
                    kite.session_expiry_hook()
                error = getattr(kex, str(body.get("error_type")), kex.GeneralException)
                raise error(str(body.get("message", "")), code=r.status_code)
        if "csv" not in kind:
            raise kex.DataException(f"Unknown Content-Type ({kind}) for the instruments dump", code=r.status_code)
        total = int(r.headers["content-length"]) if "content-length" in r.headers else None
        if r.headers.get("content-encoding"):
            total = None  # the length counts compressed bytes
        chunks: list[bytes] = []
        done = 0
        for chunk in r.iter_content(chunk_size=256 * 1024):
            chunks.append(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return b"".join(chunks)


class _Dump:
    """One day's dump: its index, with the CSV text read (and checked) only when a record is needed."""

    def __init__(self, day: date, index: DumpIndex, load_raw: Callable[[], bytes] | None = None) -> None:
        self.day = day
        self.index = index
        self._load_raw = load_raw
        self._frame: pd.DataFrame | None = None
        self._records: dict[int, Instrument] = {}

    def ensure_raw(self) -> None:
        """Read the CSV behind the index if it is not in memory yet (raises InstrumentCacheError if bad)."""
        if self._load_raw is not None:
            self.index.raw = self._load_raw()
            self._load_raw = None

    def record(self, row: int) -> Instrument:
        rec = self._records.get(row)
        if rec is None:
            self.ensure_raw()
            rec = self._records[row] = _record(self.index.fields(row))
        return rec

    @property
    def frame(self) -> pd.DataFrame:
        """Return every row as a DataFrame (parsed on first use; numbers coerced, empties as 0)."""
        if self._frame is None:
            self.ensure_raw()
            df = pd.read_csv(io.BytesIO(self.index.raw), dtype=str, keep_default_na=False, na_filter=False, engine="c")
            for col in _NUMERIC:
                df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0.0)
            for col in ("instrument_token", "exchange_token", "lot_size"):
                df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0).astype("int64")
            df["expiry"] = pd.to_datetime(df["expiry"], format="%Y-%m-%d", errors="coerce").dt.date
            df["expiry"] = df["expiry"].where(df["expiry"].notna(), None)
            self._frame = df
        return self._frame


_ARRAYS = ("starts", "ends", "tokens", "exchange_code", "key_order", "sorted_keys", "token_order", "sorted_tokens")
_MAGIC = b"KKIDX1\n"


def _pack_index(index: DumpIndex) -> bytes:
    """Return the index as one buffer: magic, a JSON table of contents, then each array's raw bytes.

    Opening it is one read and a few zero-copy ``np.frombuffer`` views, far faster than ``np.load`` of an npz.
    """
    arrays = {name: np.ascontiguousarray(getattr(index, name)) for name in _ARRAYS}
    # Offsets and permutations fit 32 bits (a dump is far below 4 GB); smaller files open faster.
    for name in ("starts", "ends", "key_order", "token_order"):
        arrays[name] = arrays[name].astype(np.uint32)
    toc: dict[str, Any] = {"exchanges": index.exchanges, "arrays": {}}
    offset = 0
    for name, arr in arrays.items():
        toc["arrays"][name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset}
        offset += arr.nbytes
    head = json.dumps(toc).encode()
    return _MAGIC + len(head).to_bytes(4, "little") + head + b"".join(a.tobytes() for a in arrays.values())


def _unpack_index(blob: bytes, raw: bytes) -> DumpIndex:
    if not blob.startswith(_MAGIC):
        raise InstrumentCacheError("not a kitekit index file")
    size = int.from_bytes(blob[len(_MAGIC) : len(_MAGIC) + 4], "little")
    start = len(_MAGIC) + 4 + size
    toc = json.loads(blob[len(_MAGIC) + 4 : start])
    index = DumpIndex.__new__(DumpIndex)
    index.raw = raw
    index.exchanges = list(toc["exchanges"])
    for name, spec in toc["arrays"].items():
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"])) if spec["shape"] else 1
        arr = np.frombuffer(blob, dtype=dtype, count=count, offset=start + spec["offset"]).reshape(spec["shape"])
        setattr(index, name, arr)
    return index


class InstrumentStore:
    """Kite's instruments dump, cached per trading day, with fast lookups.

    Args:
        cache_dir: where dumps are kept (one folder per dump day; today's and the previous one).
        fetch: a ``KiteConnect`` (its session downloads the dump) or a callable ``(exchange, progress) ->
            bytes``.
        clock: the time source (refresh timing, nearest expiries).
        calendar: trading days.
        refresh_at: the dump is regenerated daily; fetch only after this IST time (Kite: about 08:00).
        exchanges: download only these exchanges (``/instruments/{exchange}`` each); None for all.
    """

    def __init__(
        self,
        cache_dir: Path,
        fetch: KiteConnect | Fetcher | None = None,
        clock: Clock | None = None,
        calendar: TradingCalendar | None = None,
        refresh_at: time = time(8, 30),
        exchanges: Sequence[str] | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self._fetch = fetch
        self.clock = clock or SystemClock()
        self.calendar = calendar or TradingCalendar()
        self.refresh_at = refresh_at
        self.exchanges = [e.upper() for e in exchanges] if exchanges else None
        self._current: _Dump | None = None
        self._previous: _Dump | None = None
        self._previous_checked = False
        self._loaded_for: date | None = None

    @classmethod
    def from_bytes(cls, raw: bytes, day: date | None = None, clock: Clock | None = None) -> InstrumentStore:
        """Return a store over dump bytes, with no cache and no downloads (tests, one-off scripts)."""
        store = cls(Path(tempfile.gettempdir()), clock=clock)
        store._current = _Dump(day or store.clock.now().astimezone(IST).date(), DumpIndex(raw))
        store._previous_checked = True
        store._loaded_for = store._current.day
        return store

    # -- refresh and cache ---------------------------------------------------------------------------------
    def dump_day(self, now: datetime | None = None) -> date:
        """Return the trading day whose dump is current at ``now``: the latest one past ``refresh_at``."""
        local = (now or self.clock.now()).astimezone(IST)
        day = self.calendar.on_or_before(local.date())
        if day == local.date() and local.time() < self.refresh_at:
            day = self.calendar.previous(day)
        return day

    def _day_dir(self, day: date) -> Path:
        return self.cache_dir / day.isoformat()

    def cached_days(self) -> list[date]:
        """Return the dump days held in the cache, newest first (complete ones only)."""
        days = []
        if self.cache_dir.is_dir():
            for child in self.cache_dir.iterdir():
                try:
                    day = date.fromisoformat(child.name)
                except ValueError:
                    continue
                if (child / "meta.json").is_file():
                    days.append(day)
        return sorted(days, reverse=True)

    def is_fresh(self) -> bool:
        """Return True if the cache holds the current dump day's dump."""
        return self.dump_day() in self.cached_days()

    def _download(self, progress: Progress | None) -> bytes:
        fetch = self._fetch
        if fetch is None:
            raise InstrumentCacheError("The instrument store has no way to download the dump; pass a KiteConnect.")
        getter: Fetcher = (
            (lambda exchange, prog: fetch_dump(fetch, exchange, prog)) if isinstance(fetch, KiteConnect) else fetch
        )
        if not self.exchanges:
            return getter(None, progress)
        parts = [getter(e, progress) for e in self.exchanges]
        bodies = [p.split(b"\n", 1)[1] if b"\n" in p else b"" for p in parts]
        return HEADER.encode() + b"\n" + b"".join(bodies)

    def sync(self, force: bool = False, progress: Progress | None = None) -> bool:
        """Download today's dump if the cache does not hold it yet; return True if it downloaded.

        Route: ``GET /instruments`` (or per exchange). The new dump lands atomically: a crash mid-way
        leaves the old cache in place. Older days than the previous one are removed.
        """
        day = self.dump_day()
        if not force and day in self.cached_days() and self._try_open(day) is not None:
            return False
        raw = self._download(progress)
        index = DumpIndex(raw)  # raises ValueError for garbage: nothing is written then
        if len(index) == 0:
            raise InstrumentCacheError("Kite sent an instruments dump with no rows; keeping the cached one.")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{day.isoformat()}-", dir=self.cache_dir))
        try:
            packed = _pack_index(index)
            (staging / "dump.csv").write_bytes(raw)
            (staging / "index.bin").write_bytes(packed)
            meta = {
                "format": _FORMAT,
                "day": day.isoformat(),
                "rows": len(index),
                "size": len(raw),
                "crc32": zlib.crc32(raw),
                "index_crc32": zlib.crc32(packed),
                "fetched_at": self.clock.now().isoformat(),
                "exchanges": self.exchanges,
            }
            (staging / "meta.json").write_text(json.dumps(meta))
            target = self._day_dir(day)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)  # atomic: the day's folder appears complete or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._prune(keep=2)
        self._loaded_for = None
        log.info("Instruments dump of %s cached: %d rows", day, len(index))
        return True

    def _prune(self, keep: int) -> None:
        for old in self.cached_days()[keep:]:
            shutil.rmtree(self._day_dir(old), ignore_errors=True)
        for stale in self.cache_dir.glob(".????-??-??-*"):
            shutil.rmtree(stale, ignore_errors=True)

    def _open(self, day: date) -> _Dump:
        """Open a cached day: the index now (checked), the CSV when first needed (checked then)."""
        folder = self._day_dir(day)
        try:
            meta = json.loads((folder / "meta.json").read_text())
            index_bytes = (folder / "index.bin").read_bytes()
        except (OSError, ValueError) as exc:
            raise InstrumentCacheError(f"unreadable cache files ({exc})") from None
        if meta.get("format") != _FORMAT or zlib.crc32(index_bytes) != meta.get("index_crc32"):
            raise InstrumentCacheError("index checksum mismatch or another kitekit version")
        try:
            index = _unpack_index(index_bytes, b"")
        except (ValueError, KeyError, TypeError) as exc:
            raise InstrumentCacheError(f"bad index ({exc})") from None
        if len(index) != meta.get("rows") or (len(index) and int(index.ends[-1]) > int(meta.get("size", 0))):
            raise InstrumentCacheError("row count mismatch")

        def load_raw() -> bytes:
            try:
                raw = (folder / "dump.csv").read_bytes()
            except OSError as exc:
                raise InstrumentCacheError(f"unreadable dump ({exc.strerror})") from None
            if len(raw) != meta.get("size"):
                raise InstrumentCacheError("the cached dump is truncated")
            if zlib.crc32(raw) != meta.get("crc32"):
                raise InstrumentCacheError("the cached dump's checksum does not match")
            return raw

        return _Dump(day, index, load_raw)

    def load(self, progress: Progress | None = None) -> InstrumentStore:
        """Make sure today's dump is cached (downloading it if due) and open it; return ``self``.

        Without a way to download, the newest cached dump is used, with a warning if it is stale.

        Raises:
            InstrumentCacheError: nothing usable is cached and nothing could be downloaded.
        """
        day = self.dump_day()
        if self._loaded_for == day and self._current is not None:
            return self
        current = self._try_open(day) if day in self.cached_days() else None
        if current is None and self._fetch is not None:
            self.sync(force=True, progress=progress)
            current = self._open(day)
        if current is None:
            current = next((d for d in map(self._try_open, self.cached_days()) if d is not None), None)
        if current is None:
            raise InstrumentCacheError(
                f"No instruments cached in {self.cache_dir}. Download them first: `kitekit instruments sync`."
            )
        if current.day != day:
            log.warning("Using the instruments dump of %s; today's (%s) is not downloaded yet.", current.day, day)
        self._current = current
        self._previous = None
        self._previous_checked = False
        self._loaded_for = day
        self._find.cache_clear()
        return self

    def _try_open(self, day: date) -> _Dump | None:
        """Open a cached day, or remove it (with a warning) if its files are damaged."""
        try:
            return self._open(day)
        except InstrumentCacheError as exc:
            log.warning("Cached instruments of %s are damaged (%s); removing them.", day, exc)
            shutil.rmtree(self._day_dir(day), ignore_errors=True)
            return None

    def _dumps(self) -> Iterator[_Dump]:
        """Yield today's dump, then (opened only if a lookup gets that far) the previous day's."""
        if self._current is None:
            self.load()
        assert self._current is not None  # noqa: S101 - load() sets it or raises
        yield self._current
        if not self._previous_checked:
            self._previous_checked = True
            older = [d for d in self.cached_days() if d < self._current.day]
            if older:
                try:
                    self._previous = self._open(older[0])
                except InstrumentCacheError:
                    self._previous = None
        if self._previous is not None:
            yield self._previous

    def _recovering(self, action: Callable[[], _T]) -> _T:
        """Run ``action``; if the cached CSV turns out damaged, download the dump again and retry once."""
        try:
            return action()
        except InstrumentCacheError as exc:
            if self._fetch is None or self._current is None:
                raise InstrumentCacheError(f"{exc}. Download the dump again: `kitekit instruments sync`.") from None
            log.warning("Cached instruments are damaged (%s); downloading them again.", exc)
            shutil.rmtree(self._day_dir(self._current.day), ignore_errors=True)
            self._current = None
            self._loaded_for = None
            self.load()
            return action()

    def _table(self) -> pd.DataFrame:
        """Return today's dump as a DataFrame (re-downloading it if the cached CSV is damaged)."""
        return self._recovering(lambda: next(self._dumps()).frame)

    # -- lookups ----------------------------------------------------------------------------------------------
    @lru_cache(maxsize=4096)  # noqa: B019 - a store lives as long as its process; load() clears it
    def _find(self, query: str | int) -> tuple[_Dump, int]:
        """Return the dump and row for ``query``; see :meth:`instrument` for the rules."""
        if isinstance(query, str) and ":" in query and query == query.strip():
            # The common case, "NSE:INFY" exactly as Kite spells it: one binary search in today's dump.
            exchange, _, symbol = query.partition(":")
            current = self._current if self._current is not None else next(self._dumps())
            row = current.index.row_of_key(exchange, symbol)
            if row >= 0:
                return current, row
        if isinstance(query, int) or query.strip().isdigit():
            token = int(query)
            for dump in self._dumps():
                row = dump.index.row_of_token(token)
                if row >= 0:
                    return dump, row
            raise UnknownInstrumentError(str(query), [])
        text = " ".join(query.split())
        if ":" in text:
            exchange, _, symbol = text.partition(":")
            for dump in self._dumps():
                for sym in dict.fromkeys((symbol, symbol.upper())):
                    row = dump.index.row_of_key(exchange.upper(), sym)
                    if row >= 0:
                        return dump, row
            raise UnknownInstrumentError(text, self._suggest(symbol))
        upper = text.upper()
        alias = ALIASES.get(upper.replace(" ", ""))
        if alias is not None:
            return self._find(alias)
        for dump in self._dumps():
            found = {
                dump.index.exchanges[int(dump.index.exchange_code[r])]: r for r in dump.index.rows_of_symbol(upper)
            }
            if not found:
                continue
            for exchange in PREFERENCE:
                if exchange in found:
                    return dump, found[exchange]
            if len(found) == 1:
                return dump, next(iter(found.values()))
            raise AmbiguousInstrumentError(text, [f"{e}:{upper}" for e in sorted(found)])
        raise UnknownInstrumentError(text, self._suggest(upper))

    def instrument(self, query: str | int) -> Instrument:
        """Return the instrument for ``EXCHANGE:SYMBOL``, a token, an alias or a bare symbol.

        Rules: a token (int or digits) or ``EXCHANGE:SYMBOL`` matches exactly (symbol case-insensitive); index
        aliases ("NIFTY", "BANKNIFTY", "SENSEX", …) map to their index; a bare symbol resolves on the first
        exchange of NSE, BSE, NFO, BFO, MCX, CDS that lists it. Tokens and keys missing from today's dump are
        looked up in the previous day's, so a contract that expired overnight still resolves.

        Raises:
            UnknownInstrumentError: nothing matches (the message lists the closest names).
            AmbiguousInstrumentError: a bare symbol is listed on several exchanges with no preferred one.
        """

        def read() -> Instrument:
            dump, row = self._find(query)
            return dump.record(row)

        return self._recovering(read)

    def token(self, query: str | int) -> int:
        """Return the instrument token of ``query`` (see :meth:`instrument`), from the index alone."""
        dump, row = self._find(query)
        return int(dump.index.tokens[row])

    def key(self, query: str | int) -> str:
        """Return ``EXCHANGE:SYMBOL`` of ``query``; usable as the resolver of :class:`kitekit.quotes.MarketData`."""
        dump, row = self._find(query)
        return dump.index.key_of(row)

    def _suggest(self, text: str, limit: int = 5) -> list[str]:
        """Return close matches to ``text`` as keys, preferring NSE listings like the resolver does."""
        dump = next(self._dumps())
        symbols = dump.index.symbols
        upper = text.upper()
        prefix = upper.encode()[:2]
        near = np.flatnonzero(np.strings.startswith(symbols, prefix)) if prefix else np.array([], dtype=np.int64)
        pool = sorted({symbols[i].decode() for i in near[:20000].tolist()})
        names = difflib.get_close_matches(upper, pool, n=limit, cutoff=0.6)
        if not names:
            hits = np.flatnonzero(np.strings.find(symbols, upper.encode()) >= 0)
            names = sorted({symbols[i].decode() for i in hits.tolist()})[:limit]
        keys = []
        for name in names:
            try:
                keys.append(self.key(name))
            except (UnknownInstrumentError, AmbiguousInstrumentError):
                continue
        return keys

    def search(self, text: str, limit: int = 10) -> list[Instrument]:
        """Return instruments whose symbol or name contains ``text`` (case-insensitive), best first.

        Exact symbols first, then symbols starting with the text, then other matches; equities and indices
        before derivatives.
        """
        needle = text.strip().upper()
        if not needle:
            return []
        dump = next(self._dumps())
        frame = dump.frame
        sym = frame["tradingsymbol"].str.upper()
        hit = sym.str.contains(needle, regex=False) | frame["name"].str.upper().str.contains(needle, regex=False)
        found = frame[hit].copy()
        symbol = found["tradingsymbol"].str.upper()
        found["_rank"] = np.select([symbol == needle, symbol.str.startswith(needle)], [0, 1], 2)
        found["_deriv"] = found["instrument_type"].isin(["FUT", "CE", "PE"]).astype(int)
        found["_pref"] = found["exchange"].map({e: i for i, e in enumerate(PREFERENCE)}).fillna(len(PREFERENCE))
        found = found.sort_values(["_rank", "_deriv", "_pref", "tradingsymbol"], kind="stable").head(limit)
        return [dump.record(int(i)) for i in found.index]

    def frame(self, **filters: Any) -> pd.DataFrame:
        """Return a DataFrame of the instruments matching every ``column=value`` filter.

        A value may be a single value or a list/tuple/set of them (``exchange=("NSE", "BSE")``).

        Raises:
            ValueError: a filter names a column the dump does not have.
        """
        df = self._table()
        mask = pd.Series(True, index=df.index)
        for column, value in filters.items():
            if column not in df.columns:
                raise ValueError(f"unknown column {column!r}; use one of {', '.join(HEADER.split(','))}")
            values = value if isinstance(value, list | tuple | set | frozenset) else [value]
            mask &= df[column].isin(list(values))
        return df[mask].reset_index(drop=True)

    def _fno_name(self, underlying: str) -> str:
        text = " ".join(underlying.split()).upper()
        if text in FNO_NAMES:
            return FNO_NAMES[text]
        alias = ALIASES.get(text.replace(" ", ""))
        if alias is not None and alias.split(":", 1)[1] in FNO_NAMES:
            return FNO_NAMES[alias.split(":", 1)[1]]
        return text

    def _today(self) -> date:
        return self.clock.now().astimezone(IST).date()

    def futures(self, underlying: str) -> list[Instrument]:
        """Return the live futures of ``underlying`` (``NIFTY``, ``NIFTY 50``, ``RELIANCE``…), nearest first.

        Raises:
            UnknownInstrumentError: no futures for that name.
        """
        name = self._fno_name(underlying)
        df = self._table()
        rows = df[(df["name"] == name) & (df["instrument_type"] == "FUT")]
        rows = rows[rows["expiry"].map(lambda d: d is not None and d >= self._today())]
        if rows.empty:
            raise UnknownInstrumentError(f"{underlying} futures", self._fno_suggestions(name))
        rows = rows.sort_values(["expiry", "exchange"], kind="stable")
        return [next(self._dumps()).record(int(i)) for i in rows.index]

    def nearest_future(self, underlying: str, n: int = 0) -> Instrument:
        """Return the ``n``-th nearest live future of ``underlying`` (0 = front month)."""
        futures = self.futures(underlying)
        if not 0 <= n < len(futures):
            raise IndexError(f"{underlying} has {len(futures)} live futures; n must be 0..{len(futures) - 1}")
        return futures[n]

    def _fno_suggestions(self, name: str) -> list[str]:
        names = self._table()["name"]
        listed = sorted(set(names[self._table()["instrument_type"] == "FUT"]))
        return difflib.get_close_matches(name, listed, n=5, cutoff=0.5)

    def expiries(self, underlying: str) -> list[date]:
        """Return the option expiries of ``underlying`` from today on, nearest first."""
        name = self._fno_name(underlying)
        df = self._table()
        opts = df[(df["name"] == name) & df["instrument_type"].isin(["CE", "PE"])]
        today = self._today()
        return sorted({d for d in opts["expiry"] if d is not None and d >= today})

    def option_chain(self, underlying: str, expiry: date | str | None = None) -> pd.DataFrame:
        """Return the option chain of ``underlying`` for ``expiry`` (default: the nearest) as a table.

        Columns: ``strike, ce_token, ce_symbol, pe_token, pe_symbol, lot_size, expiry`` (one row per strike).

        Raises:
            UnknownInstrumentError: ``underlying`` has no options.
            ValueError: ``expiry`` is not one of its expiries (the message lists them).
        """
        name = self._fno_name(underlying)
        available = self.expiries(underlying)
        if not available:
            raise UnknownInstrumentError(f"{underlying} options", self._fno_suggestions(name))
        if expiry is None:
            chosen = available[0]
        else:
            try:
                chosen = expiry if isinstance(expiry, date) else date.fromisoformat(str(expiry))
            except ValueError:
                raise ValueError(f"expiry {expiry!r} is not a date (yyyy-mm-dd)") from None
            if chosen not in available:
                listed = ", ".join(d.isoformat() for d in available[:12])
                raise ValueError(f"{underlying} has no options expiring {chosen}; expiries: {listed}")
        df = self._table()
        opts = df[(df["name"] == name) & df["instrument_type"].isin(["CE", "PE"]) & (df["expiry"] == chosen)]
        ce = opts[opts["instrument_type"] == "CE"].set_index("strike")
        pe = opts[opts["instrument_type"] == "PE"].set_index("strike")
        chain = pd.DataFrame(
            {
                "ce_token": ce["instrument_token"],
                "ce_symbol": ce["tradingsymbol"],
                "pe_token": pe["instrument_token"],
                "pe_symbol": pe["tradingsymbol"],
                "lot_size": ce["lot_size"].combine_first(pe["lot_size"]),
            }
        ).sort_index()
        chain.index.name = "strike"
        chain = chain.reset_index()
        for col in ("ce_token", "pe_token", "lot_size"):
            chain[col] = chain[col].astype("Int64")
        chain["expiry"] = chosen
        return chain

    # -- tokens.json ---------------------------------------------------------------------------------------------
    def build_token_cache(self, path: Path, symbols: Iterable[str | int] = ()) -> dict[str, int]:
        """Write ``tokens.json`` ({tradingsymbol: instrument_token}) atomically; return the mapping.

        Holds NIFTY 50, NIFTY BANK, RELIANCE, TCS, HDFCBANK and the nearest NIFTY and BANKNIFTY futures,
        plus ``symbols``.

        Raises:
            UnknownInstrumentError: one of ``symbols`` does not resolve (nothing is written).
        """
        wanted: list[Instrument] = [
            self.instrument(q) for q in ("NSE:NIFTY 50", "NSE:NIFTY BANK", "NSE:RELIANCE", "NSE:TCS", "NSE:HDFCBANK")
        ]
        wanted += [self.nearest_future("NIFTY"), self.nearest_future("BANKNIFTY")]
        wanted += [self.instrument(q) for q in symbols]
        mapping = {i.tradingsymbol: i.instrument_token for i in wanted}
        atomic_write(path, (json.dumps(mapping, indent=2) + "\n").encode(), mode=0o644)
        return mapping
