"""Rate limits kept in Redis: a sliding window per principal (a user, an admin key, a source address), so that no
span of `window_s` seconds ever admits more than `limit` requests, whichever way they fall across the clock.

One Lua script per request, one round trip: it drops the times that left the window, counts the rest, admits
the request if there is room, records when the key was last used, and answers where the principal stands. It uses
only commands every Redis this project runs on has (6.2, the embedded server, 7.x, ElastiCache), and Redis's own
clock, so Lambdas whose clocks differ count in one window.

It fails open only when Redis cannot be reached: the request passes and a warning is logged. An error Redis
answered (a script refused, memory full, a wrong password) is a bug, never taken for an outage: it is logged at
ERROR with an EMF metric an alarm can watch, and the request is refused with 503, so a security control never
switches itself off quietly."""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from chalicelib.adapters.cache import CacheKeys
from chalicelib.adapters.logs import count, get_logger
from chalicelib.adapters.redis_client import get_redis, unreachable
from chalicelib.config import get_settings
from chalicelib.domain.errors import Unavailable
from chalicelib.lazy import lazy

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

# KEYS[1]: the principal's window, a sorted set of admitted requests scored by their time in ms; KEYS[2]: the hash
# of when each key was last used (only when ARGV[4] names a key). ARGV: limit, window in ms, a member unique to
# this request, the key id or "". Answers {admitted (1 or 0), requests in the window, ms when the oldest leaves}.
_SLIDING_WINDOW = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local admitted = 0
if used < limit then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    used = used + 1
    admitted = 1
end
redis.call('PEXPIRE', KEYS[1], window)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], ARGV[4], clock[1]) end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local frees_at = now + window
if oldest[2] then frees_at = tonumber(oldest[2]) + window end
return {admitted, used, frees_at, now}
"""

METRIC = "RateLimitErrors"


class Budget(NamedTuple):
    """Where a principal stands in its window after this request."""

    limit: int
    used: int
    admitted: bool
    reset_at: int  # Unix seconds by which the oldest request counted has left the window: there is room again
    retry_after_s: int  # seconds until then, at least 1

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(max(0, self.limit - self.used)),
                "X-RateLimit-Reset": str(self.reset_at)}


class RateLimiter:
    def __init__(self, client: Callable[[], redis.Redis], keys: CacheKeys) -> None:
        self._client = client
        self._keys = keys
        self._script: tuple[Any, Script] | None = None

    def admit(self, principal: str, limit: int, window_s: int, *, key_id: str | None = None) -> Budget | None:
        """Count this request of `principal`; None when Redis cannot be reached (the request passes). Raises
        Unavailable when Redis answered with an error."""
        return self.admit_reading(principal, limit, window_s, key_id=key_id)[0]

    def admit_reading(self, principal: str, limit: int, window_s: int, *, key_id: str | None = None,
                      read: tuple[str, ...] = ()) -> tuple[Budget | None, list[bytes | None] | None]:
        """`admit`, and the values of the keys `read` in the same round trip (a cached answer and its family's
        token: a cache hit then costs one round trip, not two). The values are None when Redis cannot be
        reached."""
        try:
            counted, found = self._count_and_read(principal, limit, window_s, key_id, read)
            admitted, used, frees_at_ms, now_ms = counted
        except Exception as error:  # noqa: BLE001 - every failure is sorted: an outage, or a bug
            if unreachable(error):
                get_logger().warning("rate limit not enforced: Redis unreachable", extra={
                    "event": "rate_limit_skipped", "error": f"{type(error).__name__}: {error}"})
                return None, None
            get_logger().error("rate limit could not be checked: Redis answered with an error", extra={
                "event": "rate_limit_failed", "error": f"{type(error).__name__}: {error}"})
            count(METRIC, "api")
            raise Unavailable("the rate limit could not be checked; try again shortly") from None
        return (Budget(limit, int(used), bool(admitted), math.ceil(int(frees_at_ms) / 1000),
                       max(1, math.ceil((int(frees_at_ms) - int(now_ms)) / 1000))), found)

    def _count_and_read(self, principal: str, limit: int, window_s: int, key_id: str | None,
                        read: tuple[str, ...]) -> tuple[list[Any], list[bytes | None] | None]:
        """One pipeline: the sliding-window script by its digest (loaded once per Redis, again after a restart,
        when Redis answers NOSCRIPT), then MGET of `read`."""
        import redis

        client = self._client()
        if self._script is None or self._script[0] is not client:
            self._script = (client, client.register_script(_SLIDING_WINDOW))
        script = self._script[1]
        keys = [self._keys.rate_window(principal), self._keys.keys_last_used()]
        args: list[str | int] = [limit, window_s * 1000, os.urandom(9).hex(), key_id or ""]
        for attempt in (1, 2):
            pipe = client.pipeline(transaction=False)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            if read:
                pipe.mget(list(read))
            answers = pipe.execute(raise_on_error=False)
            if isinstance(answers[0], redis.exceptions.NoScriptError) and attempt == 1:
                client.script_load(_SLIDING_WINDOW)
                continue
            for answer in answers:
                if isinstance(answer, Exception):
                    raise answer
            return answers[0], answers[1] if read else None
        raise AssertionError("unreachable")


def get_rate_limiter() -> RateLimiter:
    return _limiter_under(get_settings().cache_prefix)


@lazy
def _limiter_under(prefix: str) -> RateLimiter:
    return RateLimiter(get_redis, CacheKeys(prefix))
