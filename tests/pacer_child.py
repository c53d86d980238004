"""A process that calls ``/quote/ltp`` as fast as a shared Redis pacer lets it, with its wall clock skewed.

Run: ``python -m tests.pacer_child SIM_URL API_KEY ACCESS_TOKEN REDIS_URL SKEW SECONDS RATE``; prints one line
``sent <unix time> <status>`` per request that reached the simulator (the time it left, on the unskewed clock)
and ``permits <n> missed <n>`` at the end. ``RATE`` is the quote class's calls a second.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from requests.adapters import HTTPAdapter

from kitekit.bus.pacer import RedisPacer
from kitekit.rest.client import paced_client
from kitekit.wire.routes import EndpointClass


def main(url: str, api_key: str, token: str, redis_url: str, skew: float, seconds: float, rate: float) -> None:
    """Call ``ltp`` for ``seconds`` through a Redis pacer whose client clock runs ``skew`` seconds off."""
    pacer = RedisPacer(redis_url, rates={EndpointClass.QUOTE: rate}, clock=lambda: time.time() + skew)
    kite = paced_client(api_key, url, token, pacer=pacer)
    send = HTTPAdapter.send

    def noted(self: HTTPAdapter, *args: Any, **kwargs: Any) -> Any:
        # The moment the request leaves, after the pacer's wait (kitekit's transport calls this once paced).
        sent = time.time()
        response = send(self, *args, **kwargs)
        print(f"sent {sent:.6f} {response.status_code}", flush=True)  # noqa: T201
        return response

    HTTPAdapter.send = noted  # type: ignore[method-assign]
    end = time.monotonic() + seconds

    while time.monotonic() < end:
        kite.ltp(["NSE:INFY"])
    print(f"permits {pacer.permits} missed {pacer.missed}", flush=True)  # noqa: T201


if __name__ == "__main__":
    url, key, token, redis_url, skew, seconds, rate = sys.argv[1:8]
    main(url, key, token, redis_url, float(skew), float(seconds), float(rate))
