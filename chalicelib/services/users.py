"""Registering users (each with a first API key) and reading them back (cache-aside)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from chalicelib.adapters.cache import Cache
from chalicelib.config import get_settings
from chalicelib.domain import api_keys, views
from chalicelib.domain.api_keys import KeyRecord
from chalicelib.domain.errors import Conflict
from chalicelib.domain.events import KeyIssued, UserRegistered
from chalicelib.domain.vocabulary import Scope
from chalicelib.services.unit_of_work import UnitOfWork


class NewUser(Protocol):
    """What registration reads (validated at the edge)."""

    @property
    def username(self) -> str: ...

    @property
    def balance(self) -> Decimal: ...


def register(new: NewUser, uow: UnitOfWork) -> dict[str, Any]:
    with uow:
        user = uow.users.add(new.username, new.balance)
        if user is None:
            raise Conflict(f"username {new.username!r} is already taken", [{"field": "username"}])
        issued = api_keys.issue()
        key = uow.keys.add(issued.key_id, user.id, Scope.USER, issued.secret_digest)
        uow.record(UserRegistered(user.username, views.user(user)))
        uow.record(KeyIssued(KeyRecord.of(key, user.username)))
        uow.commit()
    return views.user_created(user, key, issued)


def get(username: str, uow: UnitOfWork, cache: Cache) -> dict[str, Any]:
    def load() -> dict[str, Any]:
        with uow:
            user = uow.users.get_by_username(username)
            return views.user(user, uow.holdings.market_value(user.id))

    return cache.read_through(cache.keys.user(username), get_settings().cache_ttl_user_s, load)
