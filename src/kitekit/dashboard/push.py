"""Live push to the page: one server-sent-events stream per page, batched every quarter of a second.

Each batch carries the feed's health, the session's state, the order book's version (the page fetches the book
again when it moved), the newest tick of each instrument the page watches that changed since the last batch
(coalesced by :class:`~kitekit.dashboard.feed.TickBoard`: one entry per instrument however many ticks came), and,
on the positions page, the rows marked at those ticks. A page never receives more than it shows, so 3,000
instruments in full mode cost a page what its own rows cost, and a slow page skips batches instead of queueing
them: the next batch holds the newest state.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from kitekit.dashboard.desk import Desk

__all__ = ["BATCH_SECONDS", "batches"]

#: How often a page gets a batch: four times a second keeps a tick's age on the page well under a second.
BATCH_SECONDS = 0.25


def batch(desk: Desk, watch: Sequence[int], seq: int, positions: bool) -> tuple[dict[str, Any], int]:
    """Return one batch for a page watching ``watch`` that has seen the board up to ``seq``, and the new ``seq``."""
    now_seq = desk.board.seq  # read first: a tick landing meanwhile is sent now and maybe again, never lost
    ticks = desk.board.since(seq, watch)
    out: dict[str, Any] = {
        "feed": desk.feed_view(),
        "session": {"expired": desk.session.expired, "message": desk.session.message},
        "orders_version": desk.orders_version,
        "ticks": {str(t): tick.as_json() for t, tick in ticks.items()},
        # Milliseconds since the epoch at sending: with the feed's last_tick_age, the page knows how old its
        # newest tick is however long the batch took to reach it.
        "sent_at": time.time() * 1000.0,
    }
    if positions and not desk.session.expired:
        try:
            out["positions"] = desk.position_view()
        except Exception:
            out["positions"] = None
    return out, now_seq


async def batches(
    desk: Desk, watch: Sequence[int], positions: bool, interval: float = BATCH_SECONDS
) -> AsyncIterator[str]:
    """Yield the page's batches as server-sent events until the page goes or the server stops."""
    seq = 0
    desk.follow(watch)
    desk.streams += 1
    try:
        yield "retry: 1000\n\n"
        while not desk.closing.is_set():
            started = time.monotonic()
            # Positions may need one broker call the first time: off the event loop.
            data, seq = await asyncio.to_thread(batch, desk, watch, seq, positions)
            yield f"data: {json.dumps(data, separators=(',', ':'))}\n\n"
            await asyncio.sleep(max(interval - (time.monotonic() - started), 0.01))
    finally:
        desk.streams -= 1
