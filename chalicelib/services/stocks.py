"""Ingesting stock data (immutable once written) and reading it back (cache-aside, a page at a time)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.adapters.cache import Cache
from chalicelib.config import get_settings
from chalicelib.domain import paging, views
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.events import StockIngested
from chalicelib.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.api.shapes import NewStock


def ingest(new: NewStock, uow: UnitOfWork) -> dict[str, Any]:
    with uow:
        stock = uow.stocks.add(new.model_dump())
        if stock is None:
            raise Conflict(f"stock {new.ticker!r} already exists; stock data is immutable", [{"field": "ticker"}])
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
    """Stocks by ticker, a page at a time; every page is cached and dropped by any change to a stock."""

    def load() -> tuple[dict[str, Any], str]:
        after = paging.after_ticker(page)
        with uow:
            found = paging.page_of(uow.stocks.page(after, page.limit), page, views.stock,
                                   lambda stock: paging.ticker_cursor(stock.ticker))
        return found.to_cache(), cache.keys.stock_lists()

    key = cache.keys.all_stocks(paging.page_key(page))
    return paging.Page.from_cache(cache.read_through_listed(key, get_settings().cache_ttl_stock_s, load))
