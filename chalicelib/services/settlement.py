"""Evaluating open orders against the market: the orders a settlement message names (the consumer), those a new
bar crossed (the book), and the `day` orders whose session closed (the market tick). Each batch is one
transaction: lock the batch's trades, skip those no longer open (this makes redelivery harmless), and make the
engine's move (chalicelib/services/engine.py); the cache is refreshed after the commit. While the market is
closed nothing fills: the orders rest, and the market tick has them evaluated once a session opens.

If the batch transaction fails as a whole, each trade is settled again in a transaction of its own, so one bad
trade never fails its batch mates."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from chalicelib.adapters.logs import get_logger
from chalicelib.domain import rules
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import DatabaseUnavailable
from chalicelib.domain.events import TradesSettled
from chalicelib.domain.vocabulary import TradeStatus
from chalicelib.services import engine
from chalicelib.services.engine import Settlement
from chalicelib.services.unit_of_work import UnitOfWork


class UnknownTrade(Exception):
    """The message names a trade that does not exist: a poison message, bound for the dead-letter queue."""


SettlementResult = Settlement | Exception


def settle_batch(trade_ids: list[uuid.UUID], uow: UnitOfWork, clock: Clock) -> list[SettlementResult]:
    """The result for each id, in order: what evaluating it did, or why it could not be evaluated. The orders
    are decided in the order given."""
    try:
        return _settle_together(trade_ids, uow, clock)
    except DatabaseUnavailable as away:
        return [away] * len(trade_ids)  # each trade alone would only wait for the same outage
    except Exception as error:  # noqa: BLE001 - the batch was rolled back whole; each trade gets its own chance
        if len(trade_ids) == 1:
            return [error]
        get_logger().warning("batch settlement failed; settling its trades one by one",
                             extra={"event": "settlement_batch_failed", "batch_size": len(trade_ids),
                                    "error": f"{type(error).__name__}: {error}"})
    results: list[SettlementResult] = []
    for trade_id in trade_ids:
        try:
            results += _settle_together([trade_id], uow, clock)
        except Exception as error:  # noqa: BLE001 - reported for this trade alone
            results.append(error)
    return results


def _settle_together(trade_ids: list[uuid.UUID], uow: UnitOfWork, clock: Clock) -> list[SettlementResult]:
    with uow:
        found = uow.trades.lock(trade_ids)
        pending = [found[i] for i in dict.fromkeys(trade_ids) if i in found and found[i].status == TradeStatus.PENDING]
        settled = _evaluate(uow, pending, clock)

    results: list[SettlementResult] = []
    reported: set[uuid.UUID] = set()
    for trade_id in trade_ids:
        if trade_id not in found:
            results.append(UnknownTrade(f"no transaction {trade_id}"))
        elif trade_id in settled and trade_id not in reported:
            results.append(settled[trade_id])
            reported.add(trade_id)
        elif trade_id in settled:  # named twice in one batch: the first message settled it
            results.append(replace(settled[trade_id], changed=False, placed_at=None))
        else:  # an earlier delivery finalised it
            results.append(Settlement(trade_id, found[trade_id].status, found[trade_id].reason, changed=False))
    return results


def _evaluate(uow: UnitOfWork, pending: list[Any], clock: Clock) -> dict[uuid.UUID, Settlement]:
    """Decide and write each open order, and commit. Their messages have been processed: their outbox rows,
    which stand for messages in flight, go with the commit (whatever state the orders are left in)."""
    if not pending:
        return {}
    if clock.is_open:
        move = engine.decide(engine.lock(uow, pending, clock.now), pending, partial(rules.evaluate, now=clock.now))
        engine.write(uow, move)
        done = move.done
        if move.writes:
            uow.record(TradesSettled(engine.touched(move, pending), frozenset(trade.ticker for trade in pending),
                                     tuple(move.updates)))
    else:
        done = {trade.id: Settlement(trade.id, trade.status, None, changed=False) for trade in pending}
    uow.outbox.remove(list(done))
    uow.commit()
    return done


# How many crossed orders one transaction evaluates: big enough that a batch's fixed cost is spread thin, small
# enough that a batch's locks are held for milliseconds.
BOOK_BATCH = 500


def evaluate_book(ticker: str, uow: UnitOfWork, clock: Clock, *, batch: int = BOOK_BATCH,
                  keep_going: Callable[[], bool] = lambda: True) -> int | None:
    """Evaluate the open orders of `ticker` that its current close may fill, in the book's fair order
    (`Trades.crossed`), `batch` to a transaction, and mark the book evaluated against that bar. Returns how many
    changed, or None when it stopped early (`keep_going` said so) or the market is closed: the book is then left
    unmarked, and the market tick has it evaluated again."""
    if not clock.is_open:
        return None
    with uow:
        stock = uow.stocks.get(ticker)
        if stock is None:
            return 0
        as_of, crossed = stock.price_as_of, uow.trades.crossed(ticker, stock.close_price)
    changed = 0
    for start in range(0, len(crossed), batch):
        if not keep_going():
            return None
        for result in settle_batch(crossed[start:start + batch], uow, clock):
            if isinstance(result, Exception):
                raise result
            changed += result.changed
    with uow:
        uow.stocks.mark_evaluated(ticker, as_of, clock.now)
        uow.commit()
    get_logger().info("book evaluated", extra={"event": "book_evaluated", "ticker": ticker,
                                                "crossed": len(crossed), "changed": changed})
    return changed


def books_to_evaluate(uow: UnitOfWork, clock: Clock) -> list[str]:
    """Tickers whose open orders were not evaluated against their latest bar (its evaluation went missing), or
    not since the session opened; none while the market is closed."""
    session = clock.session
    if session is None:
        return []
    with uow:
        return uow.stocks.with_unevaluated_orders(session.open)


def expire_due(uow: UnitOfWork, clock: Clock, limit: int = BOOK_BATCH) -> int:
    """Expire up to `limit` open `day` orders whose session has closed, releasing what they hold; how many."""
    with uow:
        due = uow.trades.due_to_expire(clock.now, limit)
        if not due:
            return 0
        locked = uow.trades.lock(due)
        orders = [order for order in locked.values()
                  if order.status == TradeStatus.PENDING and order.expires_at <= clock.now]
        move = engine.decide(engine.lock(uow, orders, clock.now), orders, rules.expire)
        engine.write(uow, move)
        uow.outbox.remove([order.id for order in orders])
        uow.record(TradesSettled(engine.touched(move, orders), frozenset(order.ticker for order in orders),
                                 tuple(move.updates)))
        uow.commit()
    get_logger().info("day orders expired", extra={"event": "orders_expired", "expired": len(orders)})
    return len(orders)
