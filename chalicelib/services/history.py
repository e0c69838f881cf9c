"""Reading a user's transactions: newest first, keyset-paginated, optionally of one status or time range."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from chalicelib.domain import paging, records
from chalicelib.domain.errors import NotFound
from chalicelib.domain.vocabulary import TradeStatus, classic_status
from chalicelib.services.unit_of_work import UnitOfWork


class TradePageRequest(paging.PageRequest, Protocol):
    @property
    def status(self) -> str | None:
        """Only trades in this status; None for all."""
        ...


def list_for_user(user_ref: str, page: TradePageRequest, uow: UnitOfWork,
                  between: tuple[datetime, datetime] | None = None) -> paging.Page[records.Trade]:
    after = paging.after_trade(page)
    # Each status as the classic routes name it: `canceled` is also what expired and what was replaced.
    statuses = None if page.status is None else [status for status in TradeStatus
                                                 if classic_status(status) == page.status]
    with uow:
        user = uow.users.get(user_ref)
        return paging.page_of(uow.trades.page(user.id, after, page.limit, between, statuses), page,
                              lambda trade: records.Trade.of(trade, username=user.username),
                              lambda trade: paging.trade_cursor(trade.created_at, trade.id))


def by_client_order_id(user_ref: str, client_order_id: str, uow: UnitOfWork) -> records.Trade:
    with uow:
        user = uow.users.get(user_ref)
        trade = uow.trades.by_client_order_id(user.id, client_order_id)
        if trade is None:
            raise NotFound(f"no order with client_order_id {client_order_id!r}")
        return records.Trade.of(trade, username=user.username)


def get_one(user_ref: str, trade_id: uuid.UUID, uow: UnitOfWork) -> records.Trade:
    with uow:
        user = uow.users.get(user_ref)
        trade = uow.trades.get(user.id, trade_id)
        if trade is None:
            raise NotFound(f"transaction {str(trade_id)!r} not found")
        return records.Trade.of(trade, username=user.username)


class FillPageRequest(paging.PageRequest, Protocol):
    @property
    def transaction_id(self) -> uuid.UUID | None:
        """Only this order's fills; None for all."""
        ...


def fills(user_ref: str, page: FillPageRequest, uow: UnitOfWork) -> paging.Page[records.Fill]:
    """The user's fills newest first, or one order's."""
    after = paging.after_trade(page)
    with uow:
        user = uow.users.get(user_ref)
        if page.transaction_id is not None and uow.trades.get(user.id, page.transaction_id) is None:
            raise NotFound(f"transaction {str(page.transaction_id)!r} not found")
        return paging.page_of(uow.trades.fills(user.id, page.transaction_id, after, page.limit), page,
                              records.Fill.of, lambda fill: paging.trade_cursor(fill.created_at, fill.id))


def orders(user_ref: str, statuses: list[TradeStatus] | None, limit: int, uow: UnitOfWork, *,
           tickers: list[str] | None = None, side: str | None = None, oldest_first: bool = False,
           between: tuple[datetime, datetime] | None = None) -> list[records.Trade]:
    """Up to `limit` of a user's orders in one of `statuses` (None: any), of `tickers` and `side` where given,
    newest first unless `oldest_first`."""
    with uow:
        user = uow.users.get(user_ref)
        found = uow.trades.page(user.id, None, limit, between, statuses, tickers=tickers, side=side,
                                oldest_first=oldest_first)
        return [records.Trade.of(trade, username=user.username) for trade in found[:limit]]
