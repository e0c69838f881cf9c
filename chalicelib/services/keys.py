"""API keys: issuing them (a user's first comes with sign-up), listing and revoking a user's own, admin keys,
and looking a key up for the authorizer (cache-aside; a revoked key is dropped from the cache at once)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.cache import Cache
from chalicelib.config import get_settings
from chalicelib.domain import api_keys, scopes, views
from chalicelib.domain.errors import NotFound
from chalicelib.domain.events import KeyIssued, KeyRevoked
from chalicelib.services.unit_of_work import UnitOfWork


def issue(username: str, uow: UnitOfWork) -> dict[str, Any]:
    with uow:
        user = uow.users.get_by_username(username)
        issued = api_keys.issue()
        key = uow.keys.add(issued.key_id, user.id, scopes.USER, issued.secret_digest)
        uow.record(KeyIssued(key.id, views.key_record(key, user.username)))
        uow.commit()
    return views.key_created(key, issued)


def issue_admin(uow: UnitOfWork) -> str:
    """A new admin key's token (`make admin-key`); shown once by the caller, never stored."""
    with uow:
        issued = api_keys.issue()
        key = uow.keys.add(issued.key_id, None, scopes.ADMIN, issued.secret_digest)
        uow.record(KeyIssued(key.id, views.key_record(key, None)))
        uow.commit()
    return issued.token


def list_active(username: str, uow: UnitOfWork, cache: Cache) -> list[dict[str, Any]]:
    """The user's keys that are not revoked, oldest first. When each was last used comes from the rate limiter,
    which records it in Redis with every request; it is kept in the database as it is read here."""
    with uow:
        user = uow.users.get_by_username(username)
        keys = uow.keys.active_for(user.id)
        stamps = cache.fields(cache.keys.keys_last_used(), *(key.id for key in keys))
        seen = {key.id: datetime.fromtimestamp(int(stamp), UTC) for key, stamp in zip(keys, stamps, strict=True)
                if stamp is not None}
        if seen:
            uow.keys.record_use(seen)
            uow.commit()
        return [views.key(key, max(filter(None, (key.last_used_at, seen.get(key.id))), default=None)) for key in keys]


def revoke(username: str, key_id: str, uow: UnitOfWork) -> dict[str, Any]:
    with uow:
        user = uow.users.get_by_username(username)
        if not uow.keys.revoke(user.id, key_id):
            raise NotFound(f"no active key {key_id!r} for user {username!r}", [{"field": "key_id"}])
        uow.record(KeyRevoked(key_id))
        uow.commit()
    return {"message": "key revoked", "key_id": key_id}


def verify(token: str, uow: UnitOfWork, cache: Cache) -> dict[str, Any] | None:
    """The record of the active key `token` is (see `lookup`), or None for anything else: malformed, unknown,
    revoked, or a secret that does not match. The digest is compared for an unknown key too, so the answer takes
    as long whether or not the key exists."""
    parsed = api_keys.parse(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    record = lookup(key_id, uow, cache)
    active = bool(record["found"]) and not record["revoked"]
    matches = api_keys.matches(secret, record["digest"] if active else _NO_DIGEST)
    return {**record, "key_id": key_id} if active and matches else None


_NO_DIGEST = "0" * 64


def lookup(key_id: str, uow: UnitOfWork, cache: Cache) -> dict[str, Any]:
    """What the authorizer needs of a key (`{"found": false}` for an unknown one): cached, since every
    authorized request asks; revocation drops the entry."""

    def load() -> dict[str, Any]:
        with uow:
            found = uow.keys.get(key_id)
        return {"found": False} if found is None else views.key_record(*found)

    return cache.read_through(cache.keys.api_key(key_id), get_settings().cache_ttl_api_key_s, load)
