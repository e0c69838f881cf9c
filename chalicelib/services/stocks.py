"""Ingesting a stock (created once; its prices then move only by new bars, see services/prices.py) and reading
stocks back, a page at a time."""
from __future__ import annotations

import uuid
from typing import Protocol

from chalicelib.domain import paging, prices, records
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.events import StockIngested
from chalicelib.domain.prices import PriceData
from chalicelib.services.unit_of_work import UnitOfWork


class NewStock(PriceData, Protocol):
    @property
    def ticker(self) -> str: ...


def ingest(new: NewStock, uow: UnitOfWork) -> records.Stock:
    """The stock, with its data as its first bar (timestamped now): nothing is on offer but its volume yet."""
    data = prices.values(new)
    with uow:
        stock = uow.stocks.add({"ticker": new.ticker, **data, "total_shares": new.volume})
        if stock is None:
            raise Conflict(f"stock {new.ticker!r} already exists; its prices move by new bars "
                           f"(POST /stocks/{new.ticker}/bars)", [{"field": "ticker"}])
        uow.bars.add({"ticker": stock.ticker, "timestamp": stock.price_as_of, **data})
        uow.record(StockIngested(stock.ticker))
        uow.commit()
    return records.Stock.of(stock)


def get(ticker: str, uow: UnitOfWork) -> records.Stock:
    """`ticker` in any case."""
    ticker = ticker.upper()
    with uow:
        stock = uow.stocks.get(ticker)
        if stock is None:
            raise NotFound(f"stock {ticker!r} not found")
        return records.Stock.of(stock)


def by_asset_id(asset_id: uuid.UUID, uow: UnitOfWork) -> records.Stock:
    with uow:
        stock = uow.stocks.by_asset_id(asset_id)
        if stock is None:
            raise NotFound(f"asset not found: {asset_id}")
        return records.Stock.of(stock)


def list_all(page: paging.PageRequest, uow: UnitOfWork) -> paging.Page[records.Stock]:
    """Stocks by ticker. A cursor this API did not issue is refused before anything is read."""
    after = paging.after_ticker(page)
    with uow:
        return paging.page_of(uow.stocks.page(after, page.limit), page, records.Stock.of,
                              lambda stock: paging.ticker_cursor(stock.ticker))
