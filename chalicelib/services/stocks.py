"""Ingesting a stock (created once; its prices then move only by new bars, see services/prices.py) and reading
stocks back (cache-aside, a page at a time)."""
from __future__ import annotations

from typing import Any, Protocol

from chalicelib.adapters.cache import Cache, stock_lists
from chalicelib.config import get_settings
from chalicelib.domain import paging, prices, views
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.events import StockIngested
from chalicelib.domain.prices import PriceData
from chalicelib.services.unit_of_work import UnitOfWork


class NewStock(PriceData, Protocol):
    @property
    def ticker(self) -> str: ...


def ingest(new: NewStock, uow: UnitOfWork) -> dict[str, Any]:
    """The stock, with its data as its first bar (timestamped now): nothing is on offer but its volume yet."""
    data = prices.values(new)
    with uow:
        stock = uow.stocks.add({"ticker": new.ticker, **data, "total_shares": new.volume})
        if stock is None:
            raise Conflict(f"stock {new.ticker!r} already exists; its prices move by new bars "
                           f"(POST /stocks/{new.ticker}/bars)", [{"field": "ticker"}])
        uow.bars.add({"ticker": stock.ticker, "timestamp": stock.price_as_of, **data})
        uow.record(StockIngested(stock.ticker, views.stock(stock)))
        uow.commit()
    return views.stock_created(stock)


def get(ticker: str, uow: UnitOfWork, cache: Cache) -> dict[str, Any]:
    ticker = ticker.upper()

    def load() -> dict[str, Any]:
        with uow:
            stock = uow.stocks.get(ticker)
            if stock is None:
                raise NotFound(f"stock {ticker!r} not found")
            return views.stock(stock)

    return cache.read_through(cache.keys.stock(ticker), get_settings().cache_ttl_stock_s, load)


def list_all(page: paging.PageRequest, uow: UnitOfWork, cache: Cache) -> paging.Page:
    """Stocks by ticker, a page at a time. Anyone may ask with any limit and cursor, so only the first page of
    the default size is cached (one entry, whatever an anonymous caller sends); any change to a stock makes it
    stale. A cursor this API did not issue is refused before anything is read."""
    after = paging.after_ticker(page)

    def load() -> dict[str, Any]:
        with uow:
            found = paging.page_of(uow.stocks.page(after, page.limit), page, views.stock,
                                   lambda stock: paging.ticker_cursor(stock.ticker))
        return found.to_cache()

    if paging.page_key(page):
        return paging.Page.from_cache(load())
    return paging.Page.from_cache(cache.read_through_page(stock_lists(), cache.keys.all_stocks(),
                                                          get_settings().cache_ttl_stock_s, load))
