"""``broker()``: the gateway a program asks for, a paper broker unless live trading is asked for explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.clock import clock_of
from kitekit.orders.gateway import Instruments, OrderGateway

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

    from kitekit.clock import Clock

__all__ = ["broker"]


def broker(
    kite: KiteConnect,
    instruments: Instruments,
    *,
    paper: bool = True,
    folder: Path | None = None,
    clock: Clock | None = None,
    **options: Any,
) -> OrderGateway:
    """Return a gateway: a :class:`~kitekit.orders.PaperBroker` unless ``paper=False`` is given explicitly.

    Args:
        kite: the client from ``get_kite()``. Paper trading reads its quotes (``GET /quote``, paced); live
            trading sends its orders.
        instruments: the instrument store (validation).
        paper: False to trade for real.
        folder: where the paper ledger or the live journal lives (default: the kitekit data dir).
        clock: the time source (default: the client's, :func:`kitekit.clock.clock_of`: a simulator's market
            time on a simulator, the wall clock on Kite).
        **options: passed to the broker's constructor.
    """
    from kitekit.paths import data_dir

    clock = clock or clock_of(kite)
    if paper:
        from kitekit.orders.paper import PaperBroker

        return PaperBroker(kite, instruments, folder=folder or data_dir() / "paper", clock=clock, **options)
    from kitekit.orders.live import LiveBroker

    return LiveBroker(kite, instruments, folder=folder or data_dir() / "orders", clock=clock, **options)
