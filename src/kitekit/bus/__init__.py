"""Past one process: one feed fanned out to many consumers, and one rate limit shared by every process and host.

Both stand on one Redis server (``docs/scale.md`` says why Redis Streams and not NATS JetStream):

- ``pacer``: :class:`RedisPacer`, the shared pacer backend, GCRA in one Lua script on the server's clock;
  selected by ``KITEKIT_PACER=redis://…`` (the SQLite pacer stays the default on one machine).
- ``feed``: :class:`FeedOwner`, the one process holding the broker's WebSocket connections, publishing every
  frame with a sequence number to a Redis stream, with a standby taking over through a lease.
- ``consumer``: :class:`BusTicker`, the direct ticker's API over the stream: gaps refilled, late joiners
  primed with each instrument's last tick, a consumer that fell behind told so.
- ``keys`` and ``connect``: the Redis key layout and the client, shared by the parts above.
- ``server``: :class:`RedisServer`, a throwaway ``redis-server`` on loopback for tests and benchmarks.

The Python ``redis`` client is an optional dependency (``pip install 'kitekit[scale]'``).
"""
