"""Reading a user's transactions: newest first, keyset-paginated, optionally of one status, cached per page and
dropped on every change."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from chalicelib.adapters.cache import Cache, transaction_lists
from chalicelib.config import get_settings
from chalicelib.domain import moments, paging, views
from chalicelib.domain.errors import NotFound
from chalicelib.services.unit_of_work import UnitOfWork


class TradePageRequest(paging.PageRequest, Protocol):
    @property
    def status(self) -> str | None:
        """Only trades in this status; None for all."""
        ...


def list_for_user(user_ref: str, page: TradePageRequest, uow: UnitOfWork, cache: Cache) -> paging.Page:
    after = paging.after_trade(page)
    key = cache.keys.transactions(cache.keys.user_ref(user_ref), _page_key(page))
    return _cached_page(key, user_ref, page, after, uow, cache, None)


def list_in_range(user_ref: str, between: tuple[datetime, datetime], page: TradePageRequest, uow: UnitOfWork,
                  cache: Cache) -> paging.Page:
    after = paging.after_trade(page)
    start, end = (moment.strftime(moments.KEY_FORMAT) for moment in between)
    key = cache.keys.transactions_range(cache.keys.user_ref(user_ref), start, end, _page_key(page))
    return _cached_page(key, user_ref, page, after, uow, cache, between)


def _page_key(page: TradePageRequest) -> str:
    # A status is one of a few lower-case words, after the limit and cursor (which hold no ':').
    plain = paging.page_key(page)
    if page.status is None:
        return plain
    return f"{plain or f'{page.limit}:'}:{page.status}"


def get_one(user_ref: str, trade_id: uuid.UUID, uow: UnitOfWork) -> dict[str, Any]:
    with uow:
        user = uow.users.get(user_ref)
        trade = uow.trades.get(user.id, trade_id)
        if trade is None:
            raise NotFound(f"transaction {str(trade_id)!r} not found")
        return views.trade(trade, user.username)


def _cached_page(key: str, user_ref: str, page: TradePageRequest, after: tuple[datetime, uuid.UUID] | None,
                 uow: UnitOfWork, cache: Cache, between: tuple[datetime, datetime] | None) -> paging.Page:
    def load() -> dict[str, Any]:
        with uow:
            user = uow.users.get(user_ref)
            found = paging.page_of(uow.trades.page(user.id, after, page.limit, between, page.status), page,
                                   lambda trade: views.trade(trade, user.username),
                                   lambda trade: paging.trade_cursor(trade.created_at, trade.id))
        return found.to_cache()

    # The family is the user as the request named them (username or id): a change makes both stale.
    (family,) = transaction_lists(user_ref)
    return paging.Page.from_cache(cache.read_through_page(family, key, get_settings().cache_ttl_transactions_s, load))
