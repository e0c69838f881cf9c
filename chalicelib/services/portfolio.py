"""A user's positions: shares held and how many are not already promised to pending sells, by ticker, paged."""
from __future__ import annotations

from chalicelib.domain import paging, records
from chalicelib.domain.errors import NotFound
from chalicelib.services.unit_of_work import UnitOfWork


def holdings(user_ref: str, page: paging.PageRequest, uow: UnitOfWork) -> paging.Page[records.Position]:
    after = paging.after_ticker(page)
    with uow:
        user = uow.users.get(user_ref)
        return paging.page_of(uow.holdings.page(user.id, after, page.limit), page, records.Position.of,
                              lambda holding: paging.ticker_cursor(holding.ticker))


def position(user_ref: str, ticker: str, uow: UnitOfWork) -> records.Position:
    with uow:
        user = uow.users.get(user_ref)
        found = uow.holdings.position(user.id, ticker)
        if found is None:
            raise NotFound(f"position does not exist: {ticker}")
        return records.Position.of(found)
