"""Recording price bars and reading a ticker's bar history. The latest bar by timestamp is the stock's current
price and sets the volume on offer; an older bar joins the history and moves nothing. Settlement fills at the
price current when it runs."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from chalicelib.domain import moments, paging, prices, records
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.events import PriceMoved
from chalicelib.domain.prices import PriceData
from chalicelib.domain.timeframes import TimeFrame
from chalicelib.services.unit_of_work import UnitOfWork


class NewBar(PriceData, Protocol):
    """What recording reads (validated at the edge; not in the future)."""

    @property
    def timestamp(self) -> datetime: ...


class BarPageRequest(paging.PageRequest, Protocol):
    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...


def record(ticker: str, new: NewBar, uow: UnitOfWork) -> records.BarRecorded:
    """In one transaction with the stock's row locked as settlement locks it, so a batch settles wholly before or
    wholly after the move: the bar joins the history, and if it is the latest, the stock takes its prices, its
    volume goes on offer, and what is on offer plus what is held becomes the total settlement conserves."""
    ticker = ticker.upper()
    with uow:
        stock = uow.stocks.get_for_update(ticker)
        if stock is None:
            raise NotFound(f"stock {ticker!r} not found")
        bar = uow.bars.add({"ticker": ticker, "timestamp": new.timestamp, **prices.values(new)})
        if bar is None:
            raise Conflict(f"stock {ticker!r} already has a bar at {moments.iso(new.timestamp)}",
                           [{"field": "timestamp"}])
        latest = bar.timestamp > stock.price_as_of
        if latest:
            for name, value in prices.values(bar).items():
                setattr(stock, name, value)
            stock.total_shares = bar.volume + uow.holdings.total_held(ticker)
            stock.price_as_of = bar.timestamp
            uow.stocks.save(stock)
        moved = records.BarRecorded(records.Bar.of(bar), records.Stock.of(stock), latest)
        uow.record(PriceMoved(moved, tuple(uow.holdings.holders(ticker)) if latest else ()))
        uow.commit()
    return moved


def history(ticker: str, page: BarPageRequest, uow: UnitOfWork) -> paging.Page[records.Bar]:
    """A ticker's bars newest first, within the page's bounds."""
    ticker = ticker.upper()
    after = paging.after_bar(page)
    with uow:
        if uow.stocks.get(ticker) is None:
            raise NotFound(f"stock {ticker!r} not found")
        return paging.page_of(uow.bars.page(ticker, after, page.limit, (page.start, page.end)), page,
                              records.Bar.of, lambda bar: paging.bar_cursor(bar.timestamp))


class BucketPageRequest(paging.PageRequest, Protocol):
    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...


def buckets(tickers: list[str], frame: TimeFrame, page: BucketPageRequest, uow: UnitOfWork, *,
            newest_first: bool = False) -> paging.Page[records.Bucket]:
    """The tickers' bars aggregated over `frame`, ticker by ticker, oldest first (or newest); tickers without
    bars have none."""
    after = paging.after_bucket(page)
    with uow:
        rows = uow.buckets.page([t.upper() for t in tickers], frame.amount, frame.unit, (page.start, page.end),
                                after, page.limit, newest_first=newest_first)
        return paging.page_of(rows, page, records.Bucket.of, lambda row: paging.bucket_cursor(row.ticker, row.start))


def snapshots(tickers: list[str], uow: UnitOfWork) -> dict[str, records.Snapshot]:
    """Each ticker's latest minute and its last two days, aggregated as `buckets` aggregates them; tickers
    without bars are left out."""
    found = {}
    with uow:
        for ticker in dict.fromkeys(t.upper() for t in tickers):
            days = [records.Bucket.of(row) for row in uow.buckets.page([ticker], 1, "day", (None, None), None, 2,
                                                                      newest_first=True)[:2]]
            if not days:
                continue
            minute = uow.buckets.page([ticker], 1, "minute", (None, None), None, 1, newest_first=True)[:1]
            found[ticker] = records.Snapshot(records.Bucket.of(minute[0]), days[0],
                                             days[1] if len(days) > 1 else None)
    return found


def latest(tickers: list[str], uow: UnitOfWork) -> list[records.Bucket]:
    """Each ticker's latest bar."""
    with uow:
        return [records.Bucket.of(row) for row in uow.buckets.latest([t.upper() for t in tickers])]
