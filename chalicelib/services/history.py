"""Reading a user's transactions: newest first, keyset-paginated, cached per page and dropped on every change.

SQLAlchemy and the trade model are imported where they are used: a page the cache answers never loads them."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.cache import Cache
from chalicelib.config import get_settings
from chalicelib.pagination import Page, decode_cursor, encode_cursor, invalid_cursor, page_key, split
from chalicelib.services import users
from chalicelib.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from sqlalchemy import Select

    from chalicelib.models import Trade
    from chalicelib.schemas import PageQuery


def list_for_user(user_ref: str, page: PageQuery, uow: UnitOfWork, cache: Cache) -> Page:
    key = cache.keys.transactions(user_ref, page_key(page))
    return _cached_page(key, user_ref, page, uow, cache, None)


def list_in_range(user_ref: str, start: datetime, end: datetime, raw_bounds: tuple[str, str], page: PageQuery,
                  uow: UnitOfWork, cache: Cache) -> Page:
    key = cache.keys.transactions_range(user_ref, *raw_bounds, page_key(page))
    return _cached_page(key, user_ref, page, uow, cache, (start, end))


def get_one(user_ref: str, trade_id: uuid.UUID, uow: UnitOfWork) -> dict[str, Any]:
    from chalicelib.services.trades import find_for_user, trade_view

    with uow:
        user = users.find_by_ref(uow, user_ref)
        return trade_view(find_for_user(uow, user, trade_id), user.username)


def _cached_page(key: str, user_ref: str, page: PageQuery, uow: UnitOfWork, cache: Cache,
                 bounds: tuple[datetime, datetime] | None) -> Page:
    cached = cache.get(key)
    if cached is not None:
        return Page(cached["items"], cached["next"])
    from sqlalchemy import select

    from chalicelib.models import Trade
    from chalicelib.services.trades import trade_view

    after = _decode_cursor(page.cursor) if page.cursor else None
    with uow:
        user = users.find_by_ref(uow, user_ref)
        query = select(Trade).where(Trade.user_id == user.id)
        if bounds is not None:
            query = query.where(Trade.created_at.between(*bounds))
        rows, last = split(list(uow.session.scalars(_newest_first(query, after).limit(page.limit + 1))), page)
        items = [trade_view(trade, user.username) for trade in rows]
        next_cursor = encode_cursor(last.created_at.isoformat(), str(last.id)) if last is not None else None
    cache.set_listed(cache.keys.transaction_keys(str(user.id)), key, {"items": items, "next": next_cursor},
                     get_settings().cache_ttl_transactions_s)
    return Page(items, next_cursor)


def _newest_first(query: Select[tuple[Trade]], after: tuple[datetime, uuid.UUID] | None) -> Select[tuple[Trade]]:
    from sqlalchemy import tuple_

    from chalicelib.models import Trade

    if after is not None:
        created_at, trade_id = after
        # A row comparison: the (user_id, created_at DESC, id DESC) index serves it as a range.
        query = query.where(tuple_(Trade.created_at, Trade.id) < tuple_(created_at, trade_id))
    return query.order_by(Trade.created_at.desc(), Trade.id.desc())


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    created_at, trade_id = decode_cursor(cursor, 2)
    try:
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(trade_id)
    except ValueError:
        raise invalid_cursor() from None
