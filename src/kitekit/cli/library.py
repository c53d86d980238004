"""``kitekit.get_kite()`` on a simulator chosen by the environment (``KITE_SIM=1``, ``KITE_SIM_URL``).

The library side of the CLI's wiring: the same simulator, world, session and clock a ``--sim`` command would
use, so a program and the CLI on one simulator share the session (neither logs the other out) and the time.
The embedded simulator runs in a background thread of the program, from its first request until the program exits.
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

    from kitekit.cli.context import CliContext

__all__ = ["sim_kite"]

_lock = threading.Lock()
_context: CliContext | None = None


def sim_kite(verify: bool | None = None) -> KiteConnect:
    """Return a logged-in client of the simulator the environment chooses, bound to its clock.

    Its public credentials log in by themselves when the saved session is missing or has expired.
    """
    global _context
    with _lock:
        if _context is None:
            from kitekit.cli.context import CliContext

            context = CliContext.from_env(None, None, None)
            context.settings()  # binds the embedded simulator, started by its first request (or finds a running one)
            atexit.register(context.close)
            _context = context
        return _context.kite(verify=verify)
