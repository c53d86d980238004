"""The simulated market: a deterministic model of every instrument's price, volume and OI at any moment.

The parts, lowest first: ``rng`` (keyed randomness), ``catalog`` (well-known instruments and levels),
``underlyings`` (every independent price path), ``expiries`` (contract expiry rules), ``universe`` (the
listed contracts of one day and its CSV dump), ``price_paths`` (seeded paths, daily and second by second),
``pricing`` (carry and Black-76) and ``market`` (the :class:`Market` facade the HTTP layer calls).
"""

from kitekit.sim.market.market import Book, Market, SessionPoint, Snapshot

__all__ = ["Book", "Market", "SessionPoint", "Snapshot"]
