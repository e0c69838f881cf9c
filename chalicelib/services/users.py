"""Registering users (each with a first API key) and reading them back."""
from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from chalicelib.domain import api_keys, records
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


def register(new: NewUser, uow: UnitOfWork) -> records.NewUser:
    with uow:
        user = uow.users.add(new.username, new.balance)
        if user is None:
            raise Conflict(f"username {new.username!r} is already taken", [{"field": "username"}])
        issued = api_keys.issue()
        key = uow.keys.add(issued.key_id, user.id, Scope.USER, issued.secret_digest)
        uow.record(UserRegistered(user.id, user.username))
        uow.record(KeyIssued(KeyRecord.of(key, user.username)))
        uow.commit()
    return records.NewUser(records.User.of(user), records.NewKey(key.id, issued.token, key.created_at))


def get(username: str, uow: UnitOfWork) -> records.Account:
    with uow:
        user = uow.users.get_by_username(username)
        return records.Account(records.User.of(user), uow.holdings.market_value(user.id),
                               records.AccountConfiguration.of(user))
