"""The market clock as this deployment keeps it (MARKET_CALENDAR), read at the moment of asking, and the market
tick the schedule runs every minute: expire the `day` orders whose session closed, and have the books evaluated
that a session's open, or a lost book message, left unevaluated."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.config import get_settings

if TYPE_CHECKING:
    from chalicelib.domain.clock import Clock


def clock() -> Clock:
    # Loaded by the first request that asks the time, never by a cold start (it loads zoneinfo).
    from chalicelib.domain.clock import CALENDARS, Clock

    return Clock(CALENDARS[get_settings().market_calendar], datetime.now(UTC))


# Day orders one tick expires at most (in batches); a backlog beyond it is the next tick's.
MAX_EXPIRED_PER_TICK = 20_000


def tick() -> dict[str, int]:
    from chalicelib import services
    from chalicelib.adapters.logs import get_logger
    from chalicelib.adapters.trade_queue import get_trade_queue
    from chalicelib.domain.messages import book_message
    from chalicelib.services.unit_of_work import UnitOfWork

    now = clock()
    batch = get_settings().book_batch
    expired = 0
    while expired < MAX_EXPIRED_PER_TICK:
        done = services.settlement.expire_due(UnitOfWork(), now, batch)
        expired += done
        if done < batch:
            break
    books = services.settlement.books_to_evaluate(UnitOfWork(), now)
    unsent = {}
    if books:
        unsent = get_trade_queue().send({f"book:{ticker}": book_message(ticker) for ticker in books}).failed
    if unsent:  # the next tick finds these books unevaluated still, and sends them again
        get_logger().warning("book messages not sent; the next tick sends them again",
                             extra={"event": "book_send_failed", "books": sorted(unsent), "error": next(iter(
                                 unsent.values()))})
    return {"expired": expired, "books": len(books) - len(unsent)}
