"""Reading a user's transactions: newest first, keyset-paginated, cached per page and dropped on every change."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from chalicelib.adapters.cache import Cache
from chalicelib.config import get_settings
from chalicelib.domain import paging, views
from chalicelib.domain.errors import NotFound
from chalicelib.services.unit_of_work import UnitOfWork


def list_for_user(user_ref: str, page: paging.PageRequest, uow: UnitOfWork, cache: Cache) -> paging.Page:
    key = cache.keys.transactions(user_ref, paging.page_key(page))
    return _cached_page(key, user_ref, page, uow, cache, None)


def list_in_range(user_ref: str, between: tuple[datetime, datetime], raw_bounds: tuple[str, str],
                  page: paging.PageRequest, uow: UnitOfWork, cache: Cache) -> paging.Page:
    """`raw_bounds` as the client wrote them name the cache key; `between` is what they mean."""
    key = cache.keys.transactions_range(user_ref, *raw_bounds, paging.page_key(page))
    return _cached_page(key, user_ref, page, uow, cache, between)


def get_one(user_ref: str, trade_id: uuid.UUID, uow: UnitOfWork) -> dict[str, Any]:
    with uow:
        user = uow.users.get(user_ref)
        trade = uow.trades.get(user.id, trade_id)
        if trade is None:
            raise NotFound(f"transaction {str(trade_id)!r} not found")
        return views.trade(trade, user.username)


def _cached_page(key: str, user_ref: str, page: paging.PageRequest, uow: UnitOfWork, cache: Cache,
                 between: tuple[datetime, datetime] | None) -> paging.Page:
    def load() -> tuple[dict[str, Any], str]:
        after = paging.after_trade(page)
        with uow:
            user = uow.users.get(user_ref)
            found = paging.page_of(uow.trades.page(user.id, after, page.limit, between), page,
                                   lambda trade: views.trade(trade, user.username),
                                   lambda trade: paging.trade_cursor(trade.created_at, trade.id))
        # Every cached list of the user's trades, whichever reference named it, is indexed under the user's id.
        return found.to_cache(), cache.keys.transaction_keys(str(user.id))

    return paging.Page.from_cache(
        cache.read_through_listed(key, get_settings().cache_ttl_transactions_s, load))
