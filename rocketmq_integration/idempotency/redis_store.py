"""A shared idempotency store on Redis (redis-py), for consumers on several hosts.

Keys and values (one string key per dedupe key; Redis expiry does the pruning)::

    <prefix><group>:<dedupe key>  =  "0"  in progress, PX processing_ttl   (acquire: SET NX PX)
                                     "1"  processed,   PX ttl              (mark_done: SET PX)

``acquire`` is one atomic ``SET key "0" NX PX processing_ttl``: exactly one of several concurrent
claimers gets the key, and an abandoned claim expires by itself. ``release`` deletes the key only
while it is still an in-progress claim (a tiny Lua script, so the check and the delete are atomic
and a processed key is never dropped). RocketMQ group names cannot contain ``:``, so the separator
is unambiguous.

``redis`` is imported lazily (only when a URL is given): the package works without the optional
``redis`` extra, and an existing client (e.g. from a shared connection pool) can be passed instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

__all__ = ["RedisIdempotencyStore"]

_IN_PROGRESS = "0"
_DONE = "1"

#: delete KEYS[1] only while its value is ARGV[1] (the in-progress marker)
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def _millis(seconds: float, name: str) -> int:
    ms = int(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"{name} must be at least 1 ms, got {seconds!r}")
    return ms


class RedisIdempotencyStore:
    """:class:`~rocketmq_integration.idempotency.IdempotencyStore` on Redis.

    Args:
        client: a ``redis://`` / ``rediss://`` / ``unix://`` URL (a client is created with
            ``redis.Redis.from_url``; needs the ``redis`` extra) or an existing ``redis.Redis``.
        prefix: prepended to every key, so several applications can share one database.
        ttl / processing_ttl: as for the in-memory store (seconds; Redis expiry has ms resolution).
        **client_options: passed to ``from_url`` when ``client`` is a URL (e.g. ``socket_timeout``).
    """

    def __init__(
        self,
        client: str | redis.Redis,
        *,
        prefix: str = "rocketmq:idempotency:",
        ttl: float = 86400.0,
        processing_ttl: float = 900.0,
        **client_options: Any,
    ) -> None:
        self._ttl_ms = _millis(ttl, "ttl")
        self._processing_ttl_ms = _millis(processing_ttl, "processing_ttl")
        self.ttl = ttl
        self.processing_ttl = processing_ttl
        self.prefix = prefix
        self._owns_client = isinstance(client, str)
        if isinstance(client, str):
            try:
                import redis
            except ImportError as exc:  # the optional dependency is missing
                raise ImportError(
                    "RedisIdempotencyStore needs the 'redis' package: pip install 'rocketmq-python[redis]'"
                ) from exc
            client = redis.Redis.from_url(client, **client_options)
        elif client_options:
            raise TypeError("client options are only accepted together with a URL")
        self.client: redis.Redis = client
        self._release = self.client.register_script(_RELEASE_SCRIPT)

    def key(self, group: str, key: str) -> str:
        """The Redis key that records ``key`` of ``group``."""
        return f"{self.prefix}{group}:{key}"

    def acquire(self, group: str, key: str) -> bool:
        """See :meth:`IdempotencyStore.acquire`."""
        return bool(self.client.set(self.key(group, key), _IN_PROGRESS, nx=True, px=self._processing_ttl_ms))

    def mark_done(self, group: str, key: str) -> None:
        """See :meth:`IdempotencyStore.mark_done`."""
        self.client.set(self.key(group, key), _DONE, px=self._ttl_ms)

    def release(self, group: str, key: str) -> None:
        """See :meth:`IdempotencyStore.release`."""
        self._release(keys=[self.key(group, key)], args=[_IN_PROGRESS])

    def is_done(self, group: str, key: str) -> bool:
        """Whether ``key`` is recorded as processed (and not expired)."""
        value = self.client.get(self.key(group, key))
        return value in (_DONE, _DONE.encode())

    def close(self) -> None:
        """Close the client if this store created it from a URL (a passed-in client is left open)."""
        if self._owns_client:
            self.client.close()
