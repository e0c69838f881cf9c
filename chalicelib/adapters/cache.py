"""Redis cache-aside. Fails open: when Redis is unreachable, reads miss, writes skip, and a warning is logged; an
error Redis answered is a bug, logged at ERROR with an EMF metric, and the read still goes to the database.

Every cached answer belongs to a family (a user, a stock, the pages of a user's transactions, ...), which one
token names: each answer holds the token it was loaded under, an answer read back with another token is stale,
and a write invalidates the whole family by giving it a new token. One command, whatever the number of answers
(every page, every surface); the stale ones are simply left to expire. An answer and its family's token are read
in one round trip."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.adapters.logs import count, get_logger
from chalicelib.adapters.redis_client import get_redis, unreachable
from chalicelib.config import get_settings
from chalicelib.domain.user_ref import canonical
from chalicelib.lazy import lazy

if TYPE_CHECKING:
    import redis

JSONValue = Any
Loaded = TypeVar("Loaded")


class CacheKeys:
    """Key names under a prefix and a kind, so that no two things ever share a key."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def answer(self, surface: str, route: str, request: str) -> str:
        """A route's rendered answer to one request (`request`: a digest of its canonical parameters)."""
        return f"{self.prefix}:answer:{surface}:{route}:{request}"

    def generation(self, family: str) -> str:
        """The token of a family of cached answers (`user:<name>`, `stocks`, `bars:<ticker>`, ...)."""
        return f"{self.prefix}:generation:{family}"

    def api_key(self, key_id: str) -> str:
        """What the authorizer needs of a key: its secret's digest, scope, user and whether it is revoked."""
        return f"{self.prefix}:api_key:{key_id}"

    def keys_last_used(self) -> str:
        """A hash of key id -> when the rate limiter last counted a request made with it (Unix seconds)."""
        return f"{self.prefix}:api_keys_last_used"

    def rate_window(self, principal: str) -> str:
        """The times of a principal's requests in its sliding window (chalicelib/adapters/rate_limit.py)."""
        return f"{self.prefix}:rate:{principal}"


# The families of cached answers, by what they show: a change names the families it made stale
# (chalicelib/services/handlers.py), whatever surface rendered their answers. A user named in a path by id or by
# username is both families' member: a change names both spellings.
def user_family(username: str) -> str:
    return f"user:{username}"


def stock_family(ticker: str) -> str:
    return f"stock:{ticker}"


def stock_lists() -> str:
    return "stocks"


def bar_lists(ticker: str) -> str:
    return f"bars:{ticker}"


def transaction_lists(*users: str) -> list[str]:
    return [f"transactions:{canonical(user)}" for user in users]


def activity_lists(*users: str) -> list[str]:
    return [f"activities:{canonical(user)}" for user in users]


class Cache:
    def __init__(self, client: Callable[[], redis.Redis], keys: CacheKeys) -> None:
        self._client = client
        self.keys = keys

    def read_through(self, family: str, key: str, ttl_s: int, load: Callable[[], Loaded],
                     found: list[bytes | None] | None = None) -> Loaded:
        """Cache-aside for one answer in `family`: served while the family's token is the one the answer was
        loaded under. A missing token is made before the load, so a change during the load always wins. `found`:
        the family's token and the answer, as already read (`read_keys`) in a round trip made anyway."""
        token_key = self.keys.generation(family)
        if found is None:
            found = self._guard("get", lambda: self._client().mget([token_key, key]))
        token, raw = found if found is not None else (None, None)
        if token is not None and raw is not None:
            cached = json.loads(raw)
            if cached.get("token") == token.decode():
                return cached["value"]  # type: ignore[no-any-return]
        if found is not None and token is None:
            token = self._guard("set", lambda: self._new_token(token_key))
        loaded = load()
        if token is not None:
            value = {"token": token.decode() if isinstance(token, bytes) else token, "value": loaded}
            self.set(key, value, ttl_s)
        return loaded

    def read_keys(self, family: str, key: str) -> tuple[str, str]:
        """What `read_through` reads for an answer in `family`, to be read along with something else."""
        return self.keys.generation(family), key

    def set(self, key: str, value: JSONValue, ttl_s: int) -> None:
        self._guard("set", lambda: self._client().set(key, _dumps(value), ex=ttl_s))

    def delete(self, *keys: str) -> None:
        if keys:
            self._guard("delete", lambda: self._client().delete(*keys))

    def invalidate(self, families: tuple[str, ...] | list[str]) -> None:
        """Make every cached answer of each family stale, in one round trip, whatever their number."""
        if not families:
            return

        def write() -> None:
            pipe = self._client().pipeline(transaction=False)
            for family in families:
                pipe.set(self.keys.generation(family), os.urandom(9).hex(), ex=TOKEN_TTL_S)
            pipe.execute()

        self._guard("delete", write)

    def _new_token(self, token_key: str) -> bytes:
        """A token for a family that has none (first use, or expired): set only if still none, and read back."""
        pipe = self._client().pipeline(transaction=False)
        pipe.set(token_key, os.urandom(9).hex(), ex=TOKEN_TTL_S, nx=True)
        pipe.get(token_key)
        token: bytes = pipe.execute()[1]
        return token

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


# A family's token outlives every answer loaded under it (the longest page TTL is minutes); a token that expired is
# remade, and no page holds the new one.
TOKEN_TTL_S = 86400


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
