"""The process's one Redis connection pool, shared by the cache and the rate limiter, and the line between Redis
being away and Redis answering with an error.

Unreachable (refused, timed out, loading, failing over to a replica) is an outage: callers degrade as they say.
Anything else Redis answered (a script it refused, memory full, a wrong password) is a bug or a misconfiguration,
and callers treat it as one: logged at ERROR with a metric, never as a quiet miss."""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.config import get_settings
from chalicelib.lazy import lazy

if TYPE_CHECKING:
    import redis


def _close(client: redis.Redis) -> None:
    client.close()


@lazy(close=_close)
def get_redis() -> redis.Redis:
    """Forget it with `get_redis.cache_clear()` (tests point the process at another Redis)."""
    # Imported here, not at the top: redis-py loads asyncio with it, which a cold start would pay for even where
    # Redis is never asked.
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from chalicelib.adapters.secrets import redis_url

    settings = get_settings()
    url = redis_url()
    # rediss:// (ElastiCache with in-transit encryption): the certificate and the host name are checked.
    tls = {"ssl_cert_reqs": "required", "ssl_check_hostname": True} if url.startswith("rediss://") else {}
    return redis.Redis.from_url(
        url,
        **tls,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        # One quick retry covers a pooled connection that died with a Redis restart.
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def unreachable(error: BaseException) -> bool:
    """Whether `error` means Redis could not serve now (an outage), rather than that it refused what it was sent."""
    import redis.exceptions as failures

    if isinstance(error, (failures.AuthenticationError, failures.AuthorizationError, failures.NoPermissionError)):
        return False  # a wrong password or ACL is configuration, not an outage
    return isinstance(error, (failures.ConnectionError, failures.TimeoutError, failures.ReadOnlyError,
                              failures.MasterDownError, failures.TryAgainError, failures.ClusterDownError,
                              ConnectionError, TimeoutError))
