"""The simulated market: a deterministic model of every instrument's price, volume and OI at any moment.

The parts, lowest first: ``rng`` (keyed randomness), ``catalog`` (well-known instruments and their levels),
``underlyings`` (every independent price path), ``expiries`` (contract expiry rules), ``universe`` (one
day's listed contracts and its CSV dump), ``price_paths`` (seeded paths, daily and second by second),
``pricing`` (carry and Black-76), ``timeline`` (which session a clock time falls in), ``contract_model``
(each contract's price, volume, OI and circuits from its underlying), ``snapshot`` (quotes and depth at one
moment), ``candles`` (history), and ``market``: the :class:`Market` facade the HTTP layer calls.
"""

from kitekit.sim.market.market import Market
from kitekit.sim.market.snapshot import Book, Snapshot
from kitekit.sim.market.timeline import SessionPoint
from kitekit.sim.market.universe import ContractKind, Universe

__all__ = ["Book", "ContractKind", "Market", "SessionPoint", "Snapshot", "Universe"]
