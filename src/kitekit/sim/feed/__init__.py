"""The simulator's WebSocket ticker (docs/protocol.md §15): ticks and order updates over one socket per client.

Parts: ``session`` (one connection's state and the client's messages), ``market_ticks`` (frames cut from the
market model), ``replay`` (frames from a recording), ``faults`` (what the admin API may inject) and ``feed``
(the :class:`Feed` that ties them together). The WebSocket itself, Starlette's, lives in ``sim/http/ticker``.
"""

from kitekit.sim.feed.faults import MALFORMED_FRAME, FeedFault, FeedFaultKind, parse_fault
from kitekit.sim.feed.feed import Channel, Feed
from kitekit.sim.feed.replay import Recording
from kitekit.sim.feed.session import FeedLimits, FeedSession

__all__ = [
    "MALFORMED_FRAME",
    "Channel",
    "Feed",
    "FeedFault",
    "FeedFaultKind",
    "FeedLimits",
    "FeedSession",
    "Recording",
    "parse_fault",
]
