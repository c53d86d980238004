"""The Upstox simulator's HTTP and WebSocket edge: one module per Upstox area, assembled by :mod:`.app`."""
