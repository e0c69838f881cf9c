"""API keys: issuing them (a user's first comes with sign-up), listing and revoking a user's own, admin keys,
and looking a key up for the authorizer (cache-aside through signed, versioned records: a revoke that answered
holds whatever the cache does)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.adapters.cache import Cache
from chalicelib.config import get_settings
from chalicelib.domain import api_keys, paging, records
from chalicelib.domain.api_keys import KeyRecord
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.events import KeyIssued, KeyRevoked
from chalicelib.domain.vocabulary import Scope
from chalicelib.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.adapters.key_records import KeyRecords


def issue(username: str, uow: UnitOfWork) -> records.NewKey:
    """Another key for the user (asked by the user or an admin), within MAX_KEYS_PER_USER active ones."""
    limit = get_settings().max_keys_per_user
    with uow:
        user = uow.users.get_by_username(username, for_update=True)  # counts and adds serialise per user
        if uow.keys.count_active(user.id) >= limit:
            raise Conflict(f"user {username!r} already has {limit} active keys, the most allowed; revoke one first",
                           [{"field": "key_id", "reason": "too_many_keys"}])
        issued = api_keys.issue()
        key = uow.keys.add(issued.key_id, user.id, Scope.USER, issued.secret_digest)
        uow.record(KeyIssued(KeyRecord.of(key, user.username)))
        uow.commit()
    return records.NewKey(key.id, issued.token, key.created_at)


def issue_admin(uow: UnitOfWork) -> str:
    """A new admin key's token (`make admin-key`); shown once by the caller, never stored."""
    with uow:
        issued = api_keys.issue()
        key = uow.keys.add(issued.key_id, None, Scope.ADMIN, issued.secret_digest)
        uow.record(KeyIssued(KeyRecord.of(key, None)))
        uow.commit()
    return issued.token


def list_active(username: str, page: paging.PageRequest, uow: UnitOfWork,
                cache: Cache) -> paging.Page[records.Key]:
    """The user's keys that are not revoked, oldest first, a page at a time. When each was last used comes from
    the rate limiter, which records it in Redis with every request; it is kept in the database as it is read."""
    after = paging.after_key(page)
    with uow:
        user = uow.users.get_by_username(username)
        keys = uow.keys.active_page(user.id, after, page.limit)
        stamps = cache.fields(cache.keys.keys_last_used(), *(key.id for key in keys))
        seen = {key.id: datetime.fromtimestamp(int(stamp), UTC) for key, stamp in zip(keys, stamps, strict=True)
                if stamp is not None}
        if seen:
            uow.keys.record_use(seen)
            uow.commit()
        return paging.page_of(keys, page,
                              lambda key: records.Key(key.id, key.created_at,
                                                      max(filter(None, (key.last_used_at, seen.get(key.id))),
                                                          default=None)),
                              lambda key: paging.key_cursor(key.created_at, key.id))


def revoke(username: str, key_id: str, caller_key_id: str | None, uow: UnitOfWork,
           key_records: KeyRecords) -> str:
    """Revoke one of the user's keys; `caller_key_id` is the user's own key making the call, None for an admin's.
    A user's key may not revoke the user's last active key, whichever key it is (the caller's own may have been
    revoked while this waited on the lock): nothing could then make another. An admin may, and may issue the
    next. The answer comes once the cache holds the key's tombstone too (else 503, and the revoke is repeated):
    from then on the key is refused whatever the cache held. Revoking a revoked key answers the same, and writes
    the tombstone again."""
    with uow:
        user = uow.users.get_by_username(username, for_update=True)  # the last-key check and revokes serialise
        key = uow.keys.of_user(user.id, key_id)
        if key is None:
            raise NotFound(f"no key {key_id!r} for user {username!r}", [{"field": "key_id"}])
        if key.revoked_at is None:
            if caller_key_id is not None and uow.keys.count_active(user.id) == 1:
                raise Conflict("this is the user's last active key: make another key first, or ask an admin",
                               [{"field": "key_id", "reason": "last_active_key"}])
            uow.keys.revoke(key)
        uow.record(KeyRevoked(key_id))
        uow.commit()
    key_records.revoke(KeyRecord.of(key, user.username))
    return key_id


def verify(token: str, uow: UnitOfWork, key_records: KeyRecords,
           may_look_up: Callable[[], bool] = lambda: True) -> KeyRecord | None:
    """The record of the active key `token` is, or None for anything else: malformed, unknown, revoked, or a
    secret that does not match. The digest is compared for an unknown key too, so the answer takes as long
    whether or not the key exists. `may_look_up` is asked before a key the cache does not hold is looked up in
    the database (the caller's budget of such lookups); refused, the key counts as unknown."""
    parsed = api_keys.parse(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    record = lookup(key_id, uow, key_records, may_look_up)
    if record is None:
        api_keys.matches(secret, _NO_DIGEST)
        return None
    return record if record.accepts(secret) else None


_NO_DIGEST = "0" * 64


def lookup(key_id: str, uow: UnitOfWork, key_records: KeyRecords,
           may_look_up: Callable[[], bool] = lambda: True) -> KeyRecord | None:
    """What the authorizer needs of a key (None: no such key): cached, since every authorized request asks. A
    record loaded here never replaces a later state of the key in the cache (a revoke that committed since).
    Unknown keys are not cached (random ids would fill the cache): `may_look_up` bounds what they cost."""
    cached, refused = key_records.get(key_id)
    if cached is not None:
        return cached
    if not may_look_up():
        return None
    with uow:
        found = uow.keys.get(key_id)
    if found is None:
        return None
    record = KeyRecord.of(*found)
    key_records.offer(record, refused=refused)
    return record
