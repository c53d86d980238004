"""The Angel simulator's HTTP and WebSocket edge: the only part of ``sim/angel`` that knows Starlette."""
