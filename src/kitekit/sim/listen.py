"""The simulator's listening socket, bound before anything is served (stdlib only: cheap to import)."""

from __future__ import annotations

import socket

__all__ = ["listening_socket"]


def listening_socket(host: str, port: int) -> socket.socket:
    """Return a socket listening on ``host:port`` (port 0 picks a free one) for ``SimServer(sock=...)``.

    ``kitekit sim`` binds first, so a port in use or an address this machine lacks fails before anything
    (the simulated world's folder, the admin token) is written; the CLI's embedded simulator binds first so
    its URL is known before its server (uvicorn, the market model) is imported or started.

    Raises:
        OSError: the address cannot be bound.
    """
    # The protocol must be named: asyncio sets TCP_NODELAY on accepted connections only when the listening
    # socket says IPPROTO_TCP. Without it every answer after the first on a kept-alive connection waits
    # ~40 ms for Nagle's algorithm and the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listen at once: clients that connect before the server runs queue up instead of failing.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
