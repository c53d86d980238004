"""The strategy API: a :class:`Strategy` subclass (or plain functions in a file), the same in every mode.

A strategy reacts to events, each a method it may define::

    on_start()                 before the first market event (positions and open orders already reconciled)
    on_bar(bar)                a bar of ``interval`` closed, for each instrument of ``symbols``
    on_tick(ticks)             a frame of ticks (Kite's tick dicts), when ``ticks = True``
    on_order(event)            one of its orders was placed, (partially) filled, cancelled, rejected, modified
    on_timer(timer)            a timer of ``self.clock.every(...)`` or ``self.clock.at(...)`` fell due
    on_stop()                  the run ends (Ctrl-C, the end of the data, a kill)
    on_save() -> dict          what must outlive a restart (JSON-able); given back to on_load(state) on start

With ``warmup = N`` the runner first hands ``on_bar`` the last ``N`` closed bars of each instrument (before
``on_start``, and when ``subscribe`` adds one) while ``self.warming`` is True, so indicators are ready at the
start; see :mod:`kitekit.runner.warmup`.

A strategy uses what the runner gives it: ``self.orders`` (an :class:`~kitekit.orders.OrderGateway` whose every order
passes the run's risk limits first), ``self.positions`` and ``self.position(key)`` (the run's own), ``self.quote``,
``self.history``, ``self.clock`` (the run's time and timers), ``self.log``, ``self.p`` (parameters).

Plain functions work too: a file with ``on_bar(ctx, bar)`` (and any other hook, each taking the context first)
and module constants ``SYMBOLS``, ``INTERVAL``, ``TICKS``, ``PARAMS``, ``WARMUP`` runs as if it were a class.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from kitekit.errors import RunError
from kitekit.runner.model import Bar, OrderEvent, PositionView, RunMode

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.orders import Order, OrderGateway, Placement
    from kitekit.runner.timers import StrategyClock, Timer

__all__ = ["HOOKS", "FunctionStrategy", "Host", "Strategy", "coerce_params", "load_strategy"]

#: The hooks a strategy may define.
HOOKS = ("on_start", "on_bar", "on_tick", "on_order", "on_timer", "on_stop", "on_save", "on_load")


class Host(Protocol):
    """What the run loop offers a strategy (implemented by :class:`kitekit.runner.core.RunCore`)."""

    mode: RunMode
    name: str
    instruments: Any
    warming: bool

    def positions(self) -> dict[str, PositionView]:
        """Return the run's open positions by key."""
        ...

    def position(self, key: str) -> int:
        """Return the run's signed quantity in ``key``."""
        ...

    def open_orders(self, key: str | None = None) -> list[Order]:
        """Return the run's live orders (of ``key``)."""
        ...

    def quote(self, key: str) -> dict[str, Any]:
        """Return the latest quote of ``key`` (a ``/quote`` item)."""
        ...

    def history(self, key: str, interval: str | None, bars: int) -> pd.DataFrame:
        """Return the last ``bars`` candles of ``key`` up to now."""
        ...

    def subscribe(self, keys: Iterable[str]) -> list[str]:
        """Start delivering bars (and ticks) of more instruments; return their keys."""
        ...

    def close_position(self, key: str) -> list[Placement]:
        """Close the run's position in ``key`` at market."""
        ...

    def resolve(self, query: str | int) -> str:
        """Return the ``EXCHANGE:TRADINGSYMBOL`` of a symbol, name or token."""
        ...

    def key_of(self, instrument_token: int) -> str | None:
        """Return the key of one of the run's instruments by its token, None for another."""
        ...


class Strategy:
    """Base class of a strategy: override the hooks you need (see the module docstring).

    Class attributes (a subclass sets them; ``--symbols`` and ``--interval`` override the first two):

    Attributes:
        symbols: the instruments it trades and watches (``"NSE:INFY"``, ``"NIFTY 50"``, tokens…); during a run,
            the run's instruments as ``EXCHANGE:TRADINGSYMBOL`` (``--symbols`` replaces the class's).
        interval: the bar interval, one of Kite's (``minute``, ``3minute``, … ``60minute``, ``day``).
        ticks: deliver ``on_tick`` too (paper and live subscribe in full mode; a backtest needs recorded ticks).
        params: parameters and their defaults (``--param fast=20`` changes one; ``self.p.fast`` reads it).
        warmup: closed bars of ``interval`` per instrument handed to ``on_bar`` before the first live event, with
            :attr:`warming` True (0: none). In every mode: a backtest's come from the candles before its start,
            never its own bars again. A restart that gives ``on_load`` a saved state is not warmed again. Set it
            in ``__init__`` to size it from the parameters (``self.warmup = 3 * self.p.slow``).
    """

    symbols: ClassVar[Sequence[str]] = ()
    interval: ClassVar[str] = "minute"
    ticks: ClassVar[bool] = False
    params: ClassVar[Mapping[str, Any]] = {}
    warmup: int = 0

    # Set by the runner before on_start.
    orders: OrderGateway
    clock: StrategyClock
    log: logging.Logger
    _host: Host

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.params)
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise RunError(f"unknown parameter(s) {', '.join(sorted(unknown))} for {type(self).__name__}; "
                           f"its parameters: {known}")  # fmt: skip
        #: The parameters, defaults overridden by the run's (``self.p.fast``).
        self.p = SimpleNamespace(**{**self.params, **params})

    # -- what the run offers ------------------------------------------------------------------------
    @property
    def mode(self) -> RunMode:
        """Return where this run trades: backtest, paper or live."""
        return self._host.mode

    @property
    def run_name(self) -> str:
        """Return the run's name (its folder under ``<data dir>/runs``)."""
        return self._host.name

    @property
    def warming(self) -> bool:
        """Return True while ``on_bar`` is handed the warm-up's bars (the past: update indicators, do not trade)."""
        return self._host.warming

    @property
    def instruments(self) -> Any:
        """Return the instrument store (``option_chain``, ``nearest_future``, ``instrument`` …)."""
        return self._host.instruments

    @property
    def positions(self) -> dict[str, PositionView]:
        """Return the run's open positions by ``EXCHANGE:TRADINGSYMBOL`` (its own orders' fills, marked)."""
        return self._host.positions()

    def key_of(self, instrument_token: int) -> str | None:
        """Return the ``EXCHANGE:TRADINGSYMBOL`` of one of the run's instruments by its token (None for others)."""
        return self._host.key_of(instrument_token)

    def position(self, key: str) -> int:
        """Return the run's signed quantity in ``key`` (0 when flat)."""
        return self._host.position(self._host.resolve(key))

    def open_orders(self, key: str | None = None) -> list[Order]:
        """Return the run's orders still live (open, trigger pending), of ``key`` or of all instruments."""
        return self._host.open_orders(self._host.resolve(key) if key else None)

    def quote(self, key: str) -> dict[str, Any]:
        """Return the latest quote of ``key``: a ``/quote`` item (``last_price``, ``depth``, ``ohlc`` …).

        In a backtest it is the simulated market at the run's time (the last bar's close, or the last tick).
        """
        return self._host.quote(self._host.resolve(key))

    def history(self, key: str, interval: str | None = None, bars: int = 200) -> pd.DataFrame:
        """Return the last ``bars`` candles of ``key`` ending at the run's time (never later: no lookahead).

        Args:
            key: the instrument.
            interval: the candle interval (default: the strategy's).
            bars: how many.
        """
        return self._host.history(self._host.resolve(key), interval, bars)

    def subscribe(self, *keys: str) -> list[str]:
        """Add instruments to the run (an option chosen at the open): their bars (and ticks) from now on."""
        return self._host.subscribe(keys)

    def buy(self, key: str, quantity: int, intent_id: str | None = None, **terms: Any) -> Placement:
        """Place a BUY of ``key`` (MARKET unless ``price``/``trigger_price`` are given; see ``OrderRequest.of``)."""
        from kitekit.orders import OrderRequest

        return self.orders.place(OrderRequest.buy(self._host.resolve(key), quantity, **terms), intent_id)

    def sell(self, key: str, quantity: int, intent_id: str | None = None, **terms: Any) -> Placement:
        """Place a SELL of ``key`` (MARKET unless ``price``/``trigger_price`` are given; see ``OrderRequest.of``)."""
        from kitekit.orders import OrderRequest

        return self.orders.place(OrderRequest.sell(self._host.resolve(key), quantity, **terms), intent_id)

    def close(self, key: str) -> list[Placement]:
        """Close the run's position in ``key`` (every product) at market; nothing when flat."""
        return self._host.close_position(self._host.resolve(key))

    # -- hooks --------------------------------------------------------------------------------------
    def on_start(self) -> None:
        """Called once before the first market event; set timers and subscriptions here."""

    def on_bar(self, bar: Bar) -> None:
        """Called when a bar of one of the run's instruments closes."""

    def on_tick(self, ticks: list[dict[str, Any]]) -> None:
        """Called with each frame of ticks (``ticks = True``): Kite's tick dicts, as ``KiteTicker`` gives them."""

    def on_order(self, event: OrderEvent) -> None:
        """Called when one of the run's orders changes (placed, filled, cancelled, rejected, modified…)."""

    def on_timer(self, timer: Timer) -> None:
        """Called when a timer set without a callback falls due."""

    def on_stop(self) -> None:
        """Called once when the run ends."""

    def on_save(self) -> dict[str, Any]:
        """Return what must outlive a restart (JSON-able); saved after every batch of events."""
        return {}

    def on_load(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`on_save` returned before a restart (called before :meth:`on_start`)."""


class FunctionStrategy(Strategy):
    """A strategy written as plain functions of a module: each hook takes the strategy (the context) first.

    :func:`load_strategy` makes a subclass per module whose class attributes are the module's constants.
    """

    def __init__(self, module: ModuleType, **params: Any) -> None:
        super().__init__(**params)
        self._module = module
        for hook in HOOKS:
            fn = getattr(module, hook, None)
            if callable(fn):
                setattr(self, hook, _bound(fn, self))

    @classmethod
    def of_module(cls, module: ModuleType, name: str) -> type[FunctionStrategy]:
        """Return the subclass for ``module``: its ``SYMBOLS``, ``INTERVAL``, ``TICKS`` and ``PARAMS``."""
        attributes = {
            "symbols": tuple(getattr(module, "SYMBOLS", ())),
            "interval": str(getattr(module, "INTERVAL", "minute")),
            "ticks": bool(getattr(module, "TICKS", False)),
            "params": dict(getattr(module, "PARAMS", {})),
            "warmup": int(getattr(module, "WARMUP", 0)),
        }
        return type(name, (cls,), attributes)


def _bound(fn: Any, ctx: Strategy) -> Any:
    def call(*args: Any) -> Any:
        return fn(ctx, *args)

    return call


def coerce_params(strategy_params: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
    """Return ``--param`` texts converted to the type of each parameter's default (int, float, bool, text).

    Raises:
        RunError: an unknown parameter or a value of the wrong kind.
    """
    out: dict[str, Any] = {}
    for name, text in given.items():
        if name not in strategy_params:
            known = ", ".join(sorted(strategy_params)) or "none"
            raise RunError(f"unknown parameter {name!r}; the strategy's parameters: {known}")
        default = strategy_params[name]
        try:
            if isinstance(default, bool):
                lowered = text.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(text)
                out[name] = lowered in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                out[name] = int(text)
            elif isinstance(default, float):
                out[name] = float(text)
            else:
                out[name] = text
        except ValueError:
            raise RunError(f"parameter {name}={text!r} is not a {type(default).__name__}") from None
    return out


def load_strategy(path: Path, params: Mapping[str, str] | None = None) -> Strategy:
    """Load the strategy a file defines and build it with ``params`` (texts, converted to the defaults' types).

    The file holds one :class:`Strategy` subclass (or names one ``STRATEGY = MyStrategy``), or plain hook
    functions (``on_bar(ctx, bar)`` …).

    Raises:
        RunError: the file cannot be read or run, holds no strategy or several, or a parameter is unknown.
    """
    if not path.is_file():
        raise RunError(f"{path} is not a strategy file (a Python file defining a Strategy subclass or on_bar)")
    module_name = f"kitekit_strategy_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RunError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise RunError(f"{path} failed to load: {type(exc).__name__}: {exc}") from exc
    cls = _strategy_class(module, path)
    given = dict(params or {})
    if cls is None:
        if not any(callable(getattr(module, hook, None)) for hook in ("on_bar", "on_tick", "on_timer", "on_start")):
            raise RunError(f"{path} defines no Strategy subclass and no on_bar/on_tick/on_timer/on_start function")
        holder = FunctionStrategy.of_module(module, f"{path.stem}_functions")
        return holder(module, **coerce_params(dict(holder.params), given))
    return cls(**coerce_params(dict(cls.params), given))


def _strategy_class(module: ModuleType, path: Path) -> type[Strategy] | None:
    named = getattr(module, "STRATEGY", None)
    if inspect.isclass(named) and issubclass(named, Strategy):
        return named
    found = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Strategy)
        and value is not Strategy
        and value is not FunctionStrategy
        and value.__module__ == module.__name__
    ]
    if len(found) > 1:
        names = ", ".join(sorted(c.__name__ for c in found))
        raise RunError(f"{path} defines several strategies ({names}); name one with STRATEGY = ClassName")
    return found[0] if found else None
