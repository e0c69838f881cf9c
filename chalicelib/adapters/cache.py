"""Redis cache-aside. Fails open: when Redis is unreachable, reads miss, writes skip, and a warning is logged; an
error Redis answered is a bug, logged at ERROR with an EMF metric, and the read still goes to the database."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.adapters.logs import count, get_logger
from chalicelib.adapters.redis_client import get_redis, unreachable
from chalicelib.config import get_settings
from chalicelib.lazy import lazy

if TYPE_CHECKING:
    import redis

JSONValue = Any
Loaded = TypeVar("Loaded")


class CacheKeys:
    """Key names under a prefix and a kind, so user "AAPL" never meets ticker "AAPL". The names keep the
    structure existing deployments' keys have (`{username}_transactions`, `stock_data`), and are injective: no
    two different (kind, reference, bounds, page) spell one key. Callers pass canonical parts: a username or a
    canonical user id, range bounds in a fixed-width UTC format holding ':' (which no username holds), and a page
    suffix of limit and cursor."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @staticmethod
    def user_ref(ref: str) -> str:
        """One spelling per user reference: a user id in any case or hyphenation is its canonical UUID, so every
        spelling shares one cache entry (and one invalidation); a username is itself."""
        import uuid

        try:
            return str(uuid.UUID(ref))
        except ValueError:
            return ref

    def user(self, username: str) -> str:
        return f"{self.prefix}:user:{username}"

    def stock(self, ticker: str) -> str:
        return f"{self.prefix}:stock:{ticker}"

    def all_stocks(self, page: str = "") -> str:
        return f"{self.prefix}:stocks:stock_data{_suffix(page)}"

    def bars(self, ticker: str, query: str) -> str:
        """A page of a ticker's bar history; `query` holds the range bounds, limit and cursor."""
        return f"{self.prefix}:bars:{ticker}:{query}"

    def bar_lists(self, ticker: str) -> str:
        """A set naming every cached page of the ticker's bars, so a new bar drops them all."""
        return f"{self.prefix}:bar_lists:{ticker}"

    def stock_lists(self) -> str:
        """A set naming every cached page of the stock list, so one ingest or settlement can drop them all."""
        return f"{self.prefix}:stock_lists"

    def transactions(self, user: str, page: str = "") -> str:
        """`user` is the username or user id the client named; `page` tells pages other than the first apart."""
        return f"{self.prefix}:transactions:{user}_transactions{_suffix(page)}"

    def transactions_range(self, user: str, start: str, end: str, page: str = "") -> str:
        return f"{self.prefix}:transactions:{user}_{start}_{end}_transactions{_suffix(page)}"

    def api_key(self, key_id: str) -> str:
        """What the authorizer needs of a key: its secret's digest, scope, user and whether it is revoked."""
        return f"{self.prefix}:api_key:{key_id}"

    def keys_last_used(self) -> str:
        """A hash of key id -> when the rate limiter last counted a request made with it (Unix seconds)."""
        return f"{self.prefix}:api_keys_last_used"

    def rate_window(self, principal: str) -> str:
        """The times of a principal's requests in its sliding window (chalicelib/adapters/rate_limit.py)."""
        return f"{self.prefix}:rate:{principal}"

    def activities(self, user: str, query: str) -> str:
        """A page of `GET /users/{user}/activities`; `query` holds the range bounds, limit and cursor."""
        return f"{self.prefix}:activities:{user}:{query}"

    def activity_keys(self, user_id: str) -> str:
        """A set naming every cached page of the user's activities, so one write can drop them all."""
        return f"{self.prefix}:activity_keys:{user_id}"

    def transaction_keys(self, user_id: str) -> str:
        """A set naming every cached list of the user's transactions, so one write can drop them all."""
        return f"{self.prefix}:transaction_keys:{user_id}"


def _suffix(page: str) -> str:
    return f":{page}" if page else ""


class Cache:
    def __init__(self, client: Callable[[], redis.Redis], keys: CacheKeys) -> None:
        self._client = client
        self.keys = keys

    def read_through(self, key: str, ttl_s: int, load: Callable[[], Loaded]) -> Loaded:
        """Cache-aside: the cached value of `key`, else what `load()` returns, stored under `key` for `ttl_s`."""
        cached: Loaded | None = self.get(key)
        if cached is not None:
            return cached
        loaded = load()
        self.set(key, loaded, ttl_s)
        return loaded

    def read_through_listed(self, key: str, ttl_s: int, load: Callable[[], tuple[Loaded, str]]) -> Loaded:
        """As `read_through`, for one page of a list: `load()` also names the index set the page joins, so that
        `invalidate` finds it (the index may depend on what was loaded: a user's id, say)."""
        cached: Loaded | None = self.get(key)
        if cached is not None:
            return cached
        loaded, index = load()
        self.set_listed(index, key, loaded, ttl_s)
        return loaded

    def get(self, key: str) -> JSONValue | None:
        raw = self._guard("get", lambda: self._client().get(key))
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: JSONValue, ttl_s: int) -> None:
        self._guard("set", lambda: self._client().set(key, _dumps(value), ex=ttl_s))

    def delete(self, *keys: str) -> None:
        if keys:
            self._guard("delete", lambda: self._client().delete(*keys))

    def set_listed(self, index: str, key: str, value: JSONValue, ttl_s: int) -> None:
        """Cache one page of a list and name it in the set `index`, so `invalidate` finds every page."""

        def write() -> None:
            pipe = self._client().pipeline(transaction=True)
            pipe.set(key, _dumps(value), ex=ttl_s)
            pipe.sadd(index, key)
            pipe.expire(index, ttl_s)  # refreshed by every page, so the set outlives the pages it names
            pipe.execute()

        self._guard("set", write)

    def invalidate(self, *keys: str, indexes: tuple[str, ...] = ()) -> None:
        """Drop `keys`, and every page named in each of `indexes` with the index itself, in one round trip: a
        script reads the sets and deletes what they name where the data is. (The pages a set names share its
        prefix and live on the same Redis; a cluster would need them in one hash slot.)"""
        if keys or indexes:
            self._guard("delete", lambda: self._client().eval(_INVALIDATE, len(indexes) + len(keys), *indexes, *keys,
                                                            len(indexes)))

    def fields(self, key: str, *names: str) -> list[str | None]:
        """Values of `names` in the hash `key` (None where absent or when Redis is unreachable)."""
        found = self._guard("get", lambda: self._client().hmget(key, list(names))) if names else []
        return [None if value is None else value.decode() for value in (found or [None] * len(names))]

    def ping(self) -> bool:
        return bool(self._client().ping())

    def _guard(self, operation: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:
            import redis  # loaded by get_redis already: a lookup, not an import

            if not isinstance(exc, redis.RedisError):
                raise
            if unreachable(exc):
                get_logger().warning("cache unavailable", extra={
                    "event": "cache_unavailable", "operation": operation, "error": str(exc)})
            else:
                get_logger().error("cache refused a command", extra={
                    "event": "cache_failed", "operation": operation, "error": f"{type(exc).__name__}: {exc}"})
                count(METRIC, "api")
            return None


# KEYS: the index sets, then the plain keys; ARGV[1]: how many of KEYS are index sets. EVALSHA would save the
# script's bytes on each call but needs a SCRIPT LOAD after every Redis restart; the script is short.
_INVALIDATE = """
local count = 0
for i = 1, tonumber(ARGV[1]) do
    local pages = redis.call('SMEMBERS', KEYS[i])
    for start = 1, #pages, 1000 do
        count = count + redis.call('DEL', unpack(pages, start, math.min(start + 999, #pages)))
    end
end
return count + redis.call('DEL', unpack(KEYS))
"""


def _dumps(value: JSONValue) -> str:
    return json.dumps(value, separators=(",", ":"))


# Errors Redis answered to a cache command: each one is a bug (the cache still fails open).
METRIC = "CacheErrors"


def get_cache() -> Cache:
    """The cache under the configured prefix, on the process's Redis (`get_redis.cache_clear()` forgets that)."""
    return _cache_under(get_settings().cache_prefix)


@lazy
def _cache_under(prefix: str) -> Cache:
    return Cache(get_redis, CacheKeys(prefix))
