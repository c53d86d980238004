"""What a historical candles request may ask for, checked before anything is sent: :func:`check_request`.

Kite answers a bad request with a terse 400 (``invalid token``, ``interval exceeds max limit``) after it has
spent a slot of the 3/s budget; these rules catch the same mistakes locally, and each message says what is
allowed instead:

* the interval is one of the eight Kite serves;
* ``start <= end`` (both inclusive), and ``start`` not in the future;
* ``continuous`` only for a futures contract, and only with day candles (Kite stitches expiries daily);
* an expired contract (one the instrument store still resolves through its previous day's dump) has day
  candles only, and none after its expiry;
* nothing before the first date Kite keeps candles of the interval for (:attr:`Interval.history_from`).

Two adjustments are made rather than refused, because the answer would be the same candles: a range that
starts before that first date starts on it, and one that ends after today (or after a contract's expiry) ends
there. Times are IST at Kite's one-second resolution; day ranges cover whole IST dates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from kitekit.clock import IST
from kitekit.errors import HistoryRangeError
from kitekit.history.windows import Window, coerce_interval, split_windows
from kitekit.wire.history import Interval
from kitekit.wire.instruments_csv import Instrument

__all__ = ["CandleRequest", "Moment", "check_request", "complete_until"]

log = logging.getLogger("kitekit.history")

#: A moment of a range: an aware datetime, or a date meaning that whole IST day.
Moment = datetime | date

_SECOND = timedelta(seconds=1)
#: Our clock may run ahead of Kite's: a candle that closed less than this long ago is treated as forming.
SETTLE = timedelta(seconds=60)


@dataclass(frozen=True)
class CandleRequest:
    """One checked request: the instrument, the interval, an IST range (both ends inclusive) and the flags."""

    instrument: Instrument
    interval: Interval
    start: datetime
    end: datetime
    oi: bool = False
    continuous: bool = False

    @property
    def key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL``: what stored candles are keyed on (Kite reuses expired tokens)."""
        return self.instrument.key

    def windows(self) -> list[Window]:
        """Return the request windows covering the whole range."""
        return split_windows(self.start, self.end, self.interval)


def check_request(
    instrument: Instrument,
    interval: Interval | str,
    start: Moment,
    end: Moment | None,
    *,
    now: datetime,
    oi: bool = False,
    continuous: bool = False,
) -> CandleRequest:
    """Return the request for ``instrument``'s candles in ``[start, end]``, checked against Kite's rules.

    Args:
        instrument: the resolved instrument.
        interval: one of the eight intervals, or its wire name (``"5minute"``).
        start: the first moment wanted: an aware datetime, or a date (from its 00:00 IST).
        end: the last moment wanted (inclusive): an aware datetime, a date (to its last second IST), or None
            for now.
        now: the current time (the rules about today, the future and expiry depend on it).
        oi: ask for open interest too.
        continuous: ask for a futures series stitched across expiries.

    Returns:
        The request, its range in IST at whole seconds (whole dates for day candles), clamped as the module
        docstring says.

    Raises:
        HistoryRangeError: the request breaks one of the rules; the message says what is allowed.
    """
    chosen = coerce_interval(interval)
    first = _moment(start, "start", end_of_day=False)
    last = now.astimezone(IST) if end is None else _moment(end, "end", end_of_day=True)
    if first > now:
        raise HistoryRangeError(
            f"start {first.isoformat()} is in the future (now is {now.astimezone(IST).isoformat(timespec='seconds')}); "
            "candles exist only up to now"
        )
    if first > last:
        raise HistoryRangeError(
            f"start {first.isoformat()} is after end {last.isoformat()}; give start <= end "
            "(both ends are inclusive, so start == end asks for one moment)"
        )
    today = now.astimezone(IST).date()
    _check_flags(instrument, chosen, continuous)
    first, last = _within_contract(instrument, chosen, first, last, today, continuous)
    last = min(last, _end_of(today))  # windows past today would come back empty
    first = _within_history(chosen, first, last)
    if chosen is Interval.DAY:
        first, last = _midnight(first.date()), _end_of(last.date())
    else:
        first, last = _ceil_second(first), last.replace(microsecond=0)
    return CandleRequest(instrument, chosen, first, last, oi=oi, continuous=continuous)


def complete_until(asked_at: datetime, interval: Interval) -> datetime:
    """Return the last candle time whose candle had surely closed when a request was sent at ``asked_at``.

    Candles stamped after it (today's still-forming one, and any within :data:`SETTLE` of closing) may still
    change, so a candle store refetches them next time. Day candles count as closed once their IST date has
    passed; intraday ones once a whole interval (from any anchor: NSE's 09:15, MCX's 09:00) lies behind them.
    """
    settled = asked_at.astimezone(IST) - SETTLE
    if interval is Interval.DAY:
        return _midnight(settled.date()) - _SECOND
    return (settled - timedelta(minutes=interval.minutes)).replace(microsecond=0)


def _check_flags(instrument: Instrument, interval: Interval, continuous: bool) -> None:
    if not continuous:
        return
    if instrument.instrument_type != "FUT":
        raise HistoryRangeError(
            f"continuous=True is for futures contracts (NFO, BFO, MCX or CDS FUT); {instrument.key} is "
            f"{instrument.instrument_type or 'not a derivative'}: ask without continuous"
        )
    if interval is not Interval.DAY:
        raise HistoryRangeError(
            f"continuous candles come in the day interval only, not {interval.value}: "
            "use interval 'day', or drop continuous to get this contract's own intraday candles"
        )


def _within_contract(
    instrument: Instrument, interval: Interval, first: datetime, last: datetime, today: date, continuous: bool
) -> tuple[datetime, datetime]:
    """Apply a derivative's expiry: day candles only once expired, and none after the expiry date."""
    expiry = instrument.expiry
    if expiry is None or continuous:
        return first, last  # a continuous series runs on across expiries
    if expiry < today and interval is not Interval.DAY:
        raise HistoryRangeError(
            f"{instrument.key} expired on {expiry.isoformat()}, and Kite keeps only day candles of expired "
            f"contracts: ask for interval 'day' (or continuous=True on a live future of {instrument.name or 'it'})"
        )
    if first.date() > expiry:
        raise HistoryRangeError(
            f"{instrument.key} expired on {expiry.isoformat()} and has no candles after it: "
            f"ask for a range that starts on or before {expiry.isoformat()}"
        )
    return first, min(last, _end_of(expiry))


def _within_history(interval: Interval, first: datetime, last: datetime) -> datetime:
    """Return ``first`` moved up to the first date Kite keeps ``interval`` candles for."""
    begins = _midnight(interval.history_from)
    if last < begins:
        raise HistoryRangeError(
            f"Kite keeps {interval.value} candles from {interval.history_from.isoformat()} on; this range ends "
            f"on {last.date().isoformat()}: ask for one that ends on or after {interval.history_from.isoformat()}"
        )
    if first < begins:
        log.info("%s candles begin on %s; starting there instead of %s", interval, begins.date(), first.date())
        return begins
    return first


def _moment(value: Moment, name: str, *, end_of_day: bool) -> datetime:
    """Return ``value`` as an aware IST datetime; a date means its first (or, for an end, last) second."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise HistoryRangeError(
                f"{name} {value.isoformat()} is a naive datetime; attach a timezone, "
                "e.g. datetime(2024, 1, 1, 9, 15, tzinfo=kitekit.clock.IST), or give a date"
            )
        try:
            return value.astimezone(IST)
        except OverflowError:
            raise HistoryRangeError(f"{name} {value.isoformat()} is outside the years 1-9999 in IST") from None
    if isinstance(value, date):
        return _end_of(value) if end_of_day else _midnight(value)
    raise HistoryRangeError(f"{name} must be a timezone-aware datetime or a date, got {type(value).__name__} {value!r}")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=IST)


def _end_of(day: date) -> datetime:
    # Not midnight + a day - a second: on 9999-12-31 the next midnight is beyond what a datetime holds.
    return datetime.combine(day, time(23, 59, 59), tzinfo=IST)


def _ceil_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + _SECOND
