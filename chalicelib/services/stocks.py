"""Ingesting stock data (immutable once written) and reading it back (cache-aside)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from chalicelib.cache import Cache
from chalicelib.config import get_settings
from chalicelib.errors import Conflict, NotFound
from chalicelib.models import Stock
from chalicelib.pagination import Page, decode_cursor, encode_cursor, page_key, split
from chalicelib.schemas import NewStock, PageQuery, StockCreated, StockOut
from chalicelib.unit_of_work import UnitOfWork


def ingest(new: NewStock, uow: UnitOfWork, cache: Cache) -> dict[str, Any]:
    with uow:
        stock = uow.session.execute(
            insert(Stock)
            .values(**new.model_dump())
            .on_conflict_do_nothing(index_elements=[Stock.ticker])
            .returning(Stock)
        ).scalar_one_or_none()
        if stock is None:
            raise Conflict(f"stock {new.ticker!r} already exists; stock data is immutable", [{"field": "ticker"}])
        created = StockOut.model_validate(stock)
        view = created.model_dump(mode="json")

        def refresh_cache() -> None:
            cache.set(cache.keys.stock(stock.ticker), view, get_settings().cache_ttl_stock_s)
            cache.drop_listed(cache.keys.stock_lists())

        uow.after_commit(refresh_cache)
        uow.commit()
    return StockCreated(stock=created).model_dump(mode="json")


def get(ticker: str, uow: UnitOfWork, cache: Cache) -> dict[str, Any]:
    ticker = ticker.upper()
    key = cache.keys.stock(ticker)
    cached = cache.get(key)
    if cached is not None:
        return cached
    with uow:
        stock = uow.session.get(Stock, ticker)
        if stock is None:
            raise NotFound(f"stock {ticker!r} not found")
        view = stock_view(stock)
    cache.set(key, view, get_settings().cache_ttl_stock_s)
    return view


def list_all(page: PageQuery, uow: UnitOfWork, cache: Cache) -> Page:
    """Stocks by ticker, a page at a time; every page is cached and dropped by any change to a stock."""
    key = cache.keys.all_stocks(page_key(page))
    cached = cache.get(key)
    if cached is not None:
        return Page(cached["items"], cached["next"])
    query = select(Stock).order_by(Stock.ticker).limit(page.limit + 1)
    if page.cursor is not None:
        (after,) = decode_cursor(page.cursor, 1)
        query = query.where(Stock.ticker > after)
    with uow:
        rows, last = split(list(uow.session.scalars(query)), page)
        items = [stock_view(stock) for stock in rows]
    next_cursor = encode_cursor(last.ticker) if last is not None else None
    cache.set_listed(cache.keys.stock_lists(), key, {"items": items, "next": next_cursor},
                     get_settings().cache_ttl_stock_s)
    return Page(items, next_cursor)


def stock_view(stock: Stock) -> dict[str, Any]:
    return StockOut.model_validate(stock).model_dump(mode="json")
