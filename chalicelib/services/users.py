"""Registering users and reading them back (cache-aside).

SQLAlchemy, the models and the response shapes are imported where they are used: a read the cache answers
never loads them, which is most of a cold start."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from chalicelib.cache import Cache
from chalicelib.config import get_settings
from chalicelib.errors import Conflict, NotFound
from chalicelib.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from sqlalchemy import Select

    from chalicelib.models import User
    from chalicelib.schemas import NewUser


def register(new: NewUser, uow: UnitOfWork, cache: Cache) -> dict[str, Any]:
    from sqlalchemy.dialects.postgresql import insert

    from chalicelib.models import User
    from chalicelib.schemas import UserCreated

    with uow:
        user = uow.session.execute(
            insert(User)
            .values(username=new.username, balance=new.balance)
            .on_conflict_do_nothing(index_elements=[User.username])
            .returning(User)
        ).scalar_one_or_none()
        if user is None:
            raise Conflict(f"username {new.username!r} is already taken", [{"field": "username"}])
        view = user_view(user)
        uow.after_commit(lambda: cache.set(cache.keys.user(user.username), view, get_settings().cache_ttl_user_s))
        uow.commit()
    return UserCreated(user_id=user.id, username=user.username, balance=user.balance).model_dump(mode="json")


def get(username: str, uow: UnitOfWork, cache: Cache) -> dict[str, Any]:
    key = cache.keys.user(username)
    cached = cache.get(key)
    if cached is not None:
        return cached
    with uow:
        user = find(uow, username)
        view = user_view(user)
    cache.set(key, view, get_settings().cache_ttl_user_s)
    return view


def find(uow: UnitOfWork, username: str, *, for_update: bool = False) -> User:
    from sqlalchemy import select

    from chalicelib.models import User

    return _one(uow, select(User).where(User.username == username), username, for_update)


def find_by_ref(uow: UnitOfWork, ref: str, *, for_update: bool = False) -> User:
    """A user named by id (a UUID) or by username; usernames are never UUIDs, so the two cannot be confused."""
    from sqlalchemy import select

    from chalicelib.models import User

    try:
        query = select(User).where(User.id == uuid.UUID(ref))
    except ValueError:
        query = select(User).where(User.username == ref)
    return _one(uow, query, ref, for_update)


def _one(uow: UnitOfWork, query: Select[tuple[User]], ref: str, for_update: bool) -> User:
    if for_update:
        query = query.with_for_update()
    user = uow.session.execute(query).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {ref!r} not found", [{"field": "user"}])
    return user


def user_view(user: User) -> dict[str, Any]:
    from chalicelib.schemas import UserOut

    return UserOut(
        user_id=user.id,
        username=user.username,
        balance=user.balance,
        available_balance=user.available_balance,
        created_at=user.created_at,
    ).model_dump(mode="json")
