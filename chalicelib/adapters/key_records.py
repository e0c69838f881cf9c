"""API key records in Redis, as the authorizer reads them (chalicelib.domain.api_keys.KeyRecord). Two things hold
whatever Redis holds, loses or is made to hold:

- **The cache cannot mint identities.** Every record carries an HMAC over all its fields, keyed by a secret Redis
  never sees (CACHE_SIGNING_KEY, or the Secrets Manager secret CACHE_SIGNING_SECRET_ARN names). A record that
  fails it is not believed: the key is looked up in the database, and the failure is logged at ERROR with a
  metric, since only someone writing to Redis can cause it.
- **A revocation is never undone.** A record carries its key's state (active, then revoked) ahead of its body. A
  write never replaces a later state with an earlier one, so an active record loaded just before a revoke lands
  too late to count, and neither does a delayed write-through. A revoke's tombstone replaces whatever is there.
  The revoke waits for it and fails when it could not be written, so it can be repeated.

A record is written as `<state>|<json>`, so the one script that writes them can compare states without JSON."""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.cache import CacheKeys
from chalicelib.adapters.logs import count, get_logger
from chalicelib.adapters.redis_client import get_redis, unreachable
from chalicelib.adapters.secrets import cache_signing_key
from chalicelib.config import get_settings
from chalicelib.domain.api_keys import KeyRecord
from chalicelib.domain.errors import Unavailable
from chalicelib.lazy import lazy

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

# KEYS[1]: the record. ARGV: its state, the value, TTL in s, and the value the caller saw there and refused (or
# ""). Written when nothing is there, when what is there is what the caller refused (a forgery, say), or when
# what is there is an earlier state; else left as it is. Answers 1 if written.
_OFFER = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[4] then
    local held = tonumber(string.match(current, '^(%d+)|'))
    if held and held >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"""
METRIC = "CacheIntegrityFailures"


class KeyRecordsUnavailable(Unavailable):
    def __init__(self) -> None:
        super().__init__("the key is revoked, but the cache could not be told yet: revoke it again shortly")


class KeyRecords:
    def __init__(self, client: Callable[[], redis.Redis], keys: CacheKeys, secret: Callable[[], bytes]) -> None:
        self._client = client
        self._keys = keys
        self._secret = secret
        self._script: tuple[Any, Script] | None = None

    def get(self, key_id: str) -> tuple[KeyRecord | None, str]:
        """The record held for `key_id` if there is one and it is genuine, and the raw value seen (to hand back to
        `offer` when it was refused). Redis unreachable is a miss."""
        try:
            raw = self._client().get(self._keys.api_key(key_id))
        except Exception as error:
            if not unreachable(error):
                raise
            get_logger().warning("cache unavailable", extra={"event": "cache_unavailable", "operation": "get",
                                                             "error": str(error)})
            return None, ""
        if raw is None:
            return None, ""
        seen = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        record = self._verified(key_id, seen)
        if record is None:
            get_logger().error("cached key record failed its integrity check; the database decides",
                               extra={"event": "key_record_forged", "key_id": key_id})
            count(METRIC, "authorizer")
        return record, seen

    def offer(self, record: KeyRecord, *, refused: str = "") -> None:
        """Cache `record` unless a later state of the key is held (best effort: the database stays the truth)."""
        try:
            self._write(record, refused)
        except Exception as error:  # noqa: BLE001 - any failure leaves a miss, which the database answers
            get_logger().warning("could not cache a key record", extra={
                "event": "cache_unavailable", "operation": "set", "error": f"{type(error).__name__}: {error}"})

    def revoke(self, record: KeyRecord) -> None:
        """Hold the key's tombstone, whatever was there. Raises KeyRecordsUnavailable when Redis did not confirm
        it: the revoke is then not finished, and repeating it writes the tombstone again."""
        try:
            self._client().set(self._keys.api_key(record.key_id), self._value(record.as_revoked()),
                               ex=get_settings().cache_ttl_revoked_key_s)
        except Exception as error:  # noqa: BLE001 - whatever kept Redis from confirming, the revoke is not done
            get_logger().warning("could not write a revoked key's tombstone", extra={
                "event": "key_tombstone_failed", "key_id": record.key_id, "error": f"{type(error).__name__}: {error}"})
            raise KeyRecordsUnavailable() from None

    def _write(self, record: KeyRecord, refused: str) -> None:
        client = self._client()
        if self._script is None or self._script[0] is not client:
            self._script = (client, client.register_script(_OFFER))
        settings = get_settings()
        ttl = settings.cache_ttl_revoked_key_s if record.revoked else settings.cache_ttl_api_key_s
        self._script[1](keys=[self._keys.api_key(record.key_id)],
                        args=[record.state, self._value(record), ttl, refused])

    def _value(self, record: KeyRecord) -> str:
        body = {"digest": record.digest, "scope": record.scope, "user_id": record.user_id,
                "username": record.username, "revoked": record.revoked}
        return f"{record.state}|{json.dumps({**body, 'mac': self._mac(record)}, separators=(',', ':'))}"

    def _mac(self, record: KeyRecord) -> str:
        signed = json.dumps([record.state, record.key_id, record.digest, record.scope, record.user_id,
                             record.username, record.revoked], separators=(",", ":"))
        return hmac.new(self._secret(), signed.encode(), hashlib.sha256).hexdigest()

    def _verified(self, key_id: str, raw: str) -> KeyRecord | None:
        state, _, body = raw.partition("|")
        try:
            fields = json.loads(body)
            record = KeyRecord(key_id, str(fields["digest"]), str(fields["scope"]), fields["user_id"],
                               fields["username"], bool(fields["revoked"]))
            mac = str(fields["mac"])
        except (ValueError, KeyError, TypeError):
            return None
        if state != str(record.state) or not hmac.compare_digest(mac, self._mac(record)):
            return None
        return record


def get_key_records() -> KeyRecords:
    return _records_under(get_settings().cache_prefix)


@lazy
def _records_under(prefix: str) -> KeyRecords:
    return KeyRecords(get_redis, CacheKeys(prefix), cache_signing_key)
