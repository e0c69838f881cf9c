"""Ingesting stock data (immutable once written) and reading it back (cache-aside).

SQLAlchemy, the models and the response shapes are imported where they are used: a read the cache answers
never loads them, which is most of a cold start."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.cache import Cache
from chalicelib.config import get_settings
from chalicelib.errors import Conflict, NotFound
from chalicelib.pagination import Page, decode_cursor, encode_cursor, page_key, split
from chalicelib.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.models import Stock
    from chalicelib.schemas import NewStock, PageQuery


def ingest(new: NewStock, uow: UnitOfWork, cache: Cache) -> dict[str, Any]:
    from sqlalchemy.dialects.postgresql import insert

    from chalicelib.models import Stock
    from chalicelib.schemas import StockCreated, StockOut

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
    from chalicelib.models import Stock

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
    from sqlalchemy import select

    from chalicelib.models import Stock

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
    from chalicelib.schemas import StockOut

    return StockOut.model_validate(stock).model_dump(mode="json")
