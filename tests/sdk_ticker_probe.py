"""Run the official KiteTicker against a ticker root; print what it received as JSON (run as a subprocess).

Twisted's reactor cannot restart in one process, so each run of the official client gets a process of its own.
Usage: ``python sdk_ticker_probe.py ROOT API_KEY ACCESS_TOKEN MODE FRAMES TOKEN…``; it subscribes the tokens in
``MODE``, stops after ``FRAMES`` tick frames (or 60 s), and prints ``{"frames": [base64…], "ticks": […],
"orders": […], "errors": […], "connects": n}``.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from kiteconnect import KiteTicker
from twisted.internet import reactor as _reactor

reactor: Any = _reactor  # Twisted's stubs type the global reactor as a module


def main(argv: list[str]) -> None:
    root, api_key, access_token, mode, wanted, *tokens = argv
    count, instruments = int(wanted), [int(t) for t in tokens]
    seen: dict[str, Any] = {"frames": [], "ticks": [], "orders": [], "errors": [], "connects": 0}
    ticker = KiteTicker(api_key, access_token, root=root)

    def on_connect(ws: Any, response: Any) -> None:
        seen["connects"] += 1
        ws.subscribe(instruments)
        ws.set_mode(mode, instruments)

    def on_message(ws: Any, payload: bytes, is_binary: bool) -> None:
        if is_binary and len(payload) > 1:
            seen["frames"].append(base64.b64encode(payload).decode())
            if len(seen["frames"]) == count:
                # Close cleanly after on_ticks has seen this frame, then stop the reactor.
                reactor.callLater(0, ticker.close, 1000, "done")
                ticker.on_close = lambda ws, code, reason: reactor.callLater(0, ticker.stop)

    ticker.on_connect = on_connect
    ticker.on_message = on_message
    ticker.on_ticks = lambda ws, ticks: seen["ticks"].extend(ticks)
    ticker.on_order_update = lambda ws, data: seen["orders"].append(data)
    ticker.on_error = lambda ws, code, reason: seen["errors"].append([code, str(reason)])
    reactor.callLater(60, ticker.stop)
    ticker.connect(threaded=False)
    print(json.dumps(seen, default=str))  # noqa: T201 - the probe's output is its result


if __name__ == "__main__":
    main(sys.argv[1:])
